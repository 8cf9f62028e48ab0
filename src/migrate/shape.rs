//! The shape of a state read in one pass without building it in memory: the four top-level
//! scalars gf checks, and for `resources` only counts (resource blocks, instances) and whether
//! each element has the right type. Everything else is skipped by the parser (`IgnoredAny`), so
//! a 40 MB state costs no DOM of its own.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The top level as gf checks it. A present `null` is `Some(Value::Null)`, not missing.
#[derive(Deserialize)]
pub struct Head {
    #[serde(default, deserialize_with = "present")]
    pub version: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub serial: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub lineage: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub terraform_version: Option<Value>,
    #[serde(default)]
    pub resources: Option<Resources>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// What `resources` held.
#[derive(Debug, PartialEq, Eq)]
pub enum Resources {
    /// Not an array.
    NotArray,
    /// An array.
    Array {
        /// Elements.
        blocks: usize,
        /// `instances` elements, summed.
        instances: usize,
        /// An element that is not an object.
        not_object: bool,
        /// An `instances` that is not an array.
        bad_instances: bool,
    },
}

impl<'de> de::Deserialize<'de> for Resources {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Other(ResourcesVisitor))
    }
}

/// One `resources` element.
enum Resource {
    NotObject,
    Object { instances: usize, bad_instances: bool },
}

impl<'de> de::Deserialize<'de> for Resource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Other(ResourceVisitor))
    }
}

/// An `instances` value: its length, or `None` when it is not an array.
struct Instances(Option<usize>);

impl<'de> de::Deserialize<'de> for Instances {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Other(InstancesVisitor))
    }
}

/// A visitor for one accepted form (a sequence or a map); `otherwise` for any other JSON value.
trait Form<'de>: Sized {
    type Out;
    fn otherwise() -> Self::Out;
    fn seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Out, A::Error> {
        drain_seq(seq).map(|()| Self::otherwise())
    }
    fn map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        drain_map(map).map(|()| Self::otherwise())
    }
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

struct ResourcesVisitor;

impl<'de> Form<'de> for ResourcesVisitor {
    type Out = Resources;
    fn otherwise() -> Resources {
        Resources::NotArray
    }
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Resources, A::Error> {
        let (mut blocks, mut instances, mut not_object, mut bad_instances) = (0, 0, false, false);
        while let Some(r) = seq.next_element::<Resource>()? {
            blocks += 1;
            match r {
                Resource::NotObject => not_object = true,
                Resource::Object { instances: n, bad_instances: bad } => {
                    instances += n;
                    bad_instances |= bad;
                }
            }
        }
        Ok(Resources::Array { blocks, instances, not_object, bad_instances })
    }
}

struct ResourceVisitor;

impl<'de> Form<'de> for ResourceVisitor {
    type Out = Resource;
    fn otherwise() -> Resource {
        Resource::NotObject
    }
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Resource, A::Error> {
        let (mut instances, mut bad_instances) = (0, false);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "instances" {
                match map.next_value::<Instances>()?.0 {
                    Some(n) => instances = n,
                    None => bad_instances = true,
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Resource::Object { instances, bad_instances })
    }
}

struct InstancesVisitor;

impl<'de> Form<'de> for InstancesVisitor {
    type Out = Instances;
    fn otherwise() -> Instances {
        Instances(None)
    }
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Instances, A::Error> {
        let mut n = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(Instances(Some(n)))
    }
}

/// Adapts a [`Form`] to serde's `Visitor`: every scalar is "another value".
struct Other<F>(F);

impl<'de, F: Form<'de>> Visitor<'de> for Other<F> {
    type Value = F::Out;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<F::Out, E> {
        Ok(F::otherwise())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<F::Out, E> {
        Ok(F::otherwise())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<F::Out, E> {
        Ok(F::otherwise())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<F::Out, E> {
        Ok(F::otherwise())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<F::Out, E> {
        Ok(F::otherwise())
    }
    fn visit_unit<E: de::Error>(self) -> Result<F::Out, E> {
        Ok(F::otherwise())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<F::Out, A::Error> {
        self.0.seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<F::Out, A::Error> {
        self.0.map(map)
    }
}

/// Parse `bytes`: `Ok(None)` when it is JSON but not an object.
pub fn head(bytes: &[u8]) -> Result<Option<Head>, serde_json::Error> {
    // Anything but an object (after whitespace) is a value of another type, if it parses at all.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return serde_json::from_slice::<IgnoredAny>(bytes).map(|_| None);
    }
    serde_json::from_slice(bytes).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_counted_without_being_kept() {
        let h = head(br#"{"resources":[{"instances":[{},{"x":[1,2]}]},{"mode":"data"},{"instances":[]}],"outputs":{"a":{"value":[1]}}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            h.resources,
            Some(Resources::Array { blocks: 3, instances: 2, not_object: false, bad_instances: false })
        );
        let h = head(br#"{"resources":[1,{"instances":{}}]}"#).unwrap().unwrap();
        assert_eq!(
            h.resources,
            Some(Resources::Array { blocks: 2, instances: 0, not_object: true, bad_instances: true })
        );
        assert_eq!(head(br#"{"resources":{"a":1}}"#).unwrap().unwrap().resources, Some(Resources::NotArray));
        assert_eq!(head(br#"{"lineage":null}"#).unwrap().unwrap().lineage, Some(Value::Null));
        assert!(head(b"{}").unwrap().unwrap().lineage.is_none());
        assert!(head(b" [1, 2]").unwrap().is_none());
        assert!(head(b"<html>").is_err());
        assert!(head(br#"{"a":1} trailing"#).is_err());
    }
}
