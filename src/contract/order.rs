//! Stack dependency order: a topological sort that names the cycle when there is one.

use std::collections::{BTreeMap, BTreeSet};

use super::Stack;

/// Topological order (ties broken by name); on a cycle, the cycle as a closed list of names.
/// Names are unique (the loader refuses a second manifest of one name); were they not, the first
/// stack of a name is the one ordered.
pub fn dependency_order(stacks: &[Stack]) -> Result<Vec<Stack>, Vec<String>> {
    let mut by_name: BTreeMap<&str, &Stack> = BTreeMap::new();
    for s in stacks {
        by_name.entry(s.name.as_str()).or_insert(s);
    }
    let mut indegree: BTreeMap<&str, usize> = by_name.keys().map(|k| (*k, 0)).collect();
    for s in by_name.values() {
        // Distinct names: each dependency is released once, however often it is listed.
        let known: BTreeSet<&str> =
            s.depends_on.iter().map(String::as_str).filter(|d| by_name.contains_key(d)).collect();
        *indegree.entry(s.name.as_str()).or_default() = known.len();
    }
    // Who depends on whom, once (each dependency once per stack, as counted above): the sort
    // stays linear for a contract of a thousand stacks.
    let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in by_name.values() {
        let known: BTreeSet<&str> =
            s.depends_on.iter().map(String::as_str).filter(|d| by_name.contains_key(d)).collect();
        for d in known {
            dependents.entry(d).or_default().push(s.name.as_str());
        }
    }
    let mut ready: BTreeSet<&str> = indegree.iter().filter(|(_, d)| **d == 0).map(|(k, _)| *k).collect();
    let mut out = Vec::new();
    while let Some(next) = ready.pop_first() {
        out.push(by_name[next].clone());
        for s in dependents.get(next).into_iter().flatten() {
            let d = indegree.get_mut(s).expect("every stack has an indegree");
            *d -= 1;
            if *d == 0 {
                ready.insert(s);
            }
        }
    }
    if out.len() == by_name.len() {
        return Ok(out);
    }
    Err(find_cycle(&by_name))
}

fn find_cycle(by_name: &BTreeMap<&str, &Stack>) -> Vec<String> {
    // Depth-first search from each stack; the first back edge closes a cycle.
    fn visit<'a>(
        n: &'a str,
        by_name: &BTreeMap<&'a str, &'a Stack>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| *p == n) {
            let mut cycle: Vec<String> = path[i..].iter().map(|s| (*s).to_string()).collect();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n);
        for d in &by_name[n].depends_on {
            if let Some((k, _)) = by_name.get_key_value(d.as_str())
                && let Some(c) = visit(k, by_name, path, done)
            {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n);
        None
    }
    let mut done = BTreeSet::new();
    for n in by_name.keys() {
        if let Some(c) = visit(n, by_name, &mut Vec::new(), &mut done) {
            return c;
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::contract::ApplyMode;

    fn stack(name: &str, deps: &[&str]) -> Stack {
        Stack {
            name: name.into(),
            purpose: String::new(),
            namespaces: vec![name.into()],
            optional_namespaces: vec![],
            depends_on: deps.iter().map(|d| (*d).to_string()).collect(),
            state_keys: BTreeMap::new(),
            apply: ApplyMode::Operator,
            requires_cache: false,
            cache_paths: vec![],
            lane: None,
            dir: PathBuf::new(),
            manifest: String::new(),
        }
    }

    #[test]
    fn orders_by_dependency_not_by_name() {
        let s = vec![
            stack("runner-dashboard", &["gitlab-runners"]),
            stack("attic", &["arc-runners"]),
            stack("gitlab-runners", &["attic"]),
            stack("arc-runners", &[]),
        ];
        let order: Vec<_> = dependency_order(&s).unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(order, ["arc-runners", "attic", "gitlab-runners", "runner-dashboard"]);
    }

    #[test]
    fn independent_stacks_order_by_name() {
        let s = vec![stack("b", &[]), stack("a", &[]), stack("c", &["a"])];
        let order: Vec<_> = dependency_order(&s).unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn names_the_cycle() {
        let s = vec![stack("a", &["c"]), stack("b", &["a"]), stack("c", &["b"]), stack("d", &[])];
        let cycle = dependency_order(&s).unwrap_err();
        assert_eq!(cycle, ["a", "c", "b", "a"]);
    }

    #[test]
    fn a_dependency_listed_twice_is_released_once() {
        let s = vec![stack("b", &["a", "a"]), stack("a", &[]), stack("c", &["b", "a", "b"])];
        let order: Vec<_> = dependency_order(&s).unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(order, ["a", "b", "c"]);
    }
}
