# The integration tests (tests/it) the Nix build sandbox cannot run, by what they need; the
# sandbox runs every other test, every unit test included. Names are exact (`--exact --skip=NAME`):
# tests/it/nix.rs checks that each names a test of tests/it, that no unit test is skipped, and that
# every test of a module that needs these tools is either listed here or known to need none.
{
  # Nix itself with a store of its own: binary caches made by `nix copy`, `nix-instantiate`,
  # `nix eval` of the flake (no Nix in the sandbox, and its store is not writable there).
  store = [
    "cache::all_present_paths_pass"
    "cache::closure_reaches_every_reference"
    "cache::closure_with_a_missing_reference_fails"
    "cache::concurrency_is_bounded_and_connections_are_reused"
    "cache::down_server_fails_within_seconds"
    "cache::gate_refuses_what_is_not_present"
    "cache::invalid_cache_name_is_refused_before_any_request"
    "cache::json_has_the_spec_shape"
    "cache::kube_context_mismatch_is_only_reported"
    "cache::malformed_store_paths_are_each_explained"
    "cache::missing_path_fails_the_check"
    "cache::nix_agrees_on_signatures"
    "cache::no_trusted_keys_means_no_verdict"
    "cache::path_signed_by_an_untrusted_key_is_untrusted"
    "cache::paths_from_stdin"
    "cache::private_cache_with_token_uses_attic_api"
    "cache::private_cache_without_token_names_the_variable"
    "cache::reachability_for_doctor"
    "cache::server_errors_are_retried"
    "cache::settings_come_from_the_contract_and_the_stack"
    "cache::stalled_server_times_out_within_seconds"
    "cache::tampered_narinfo_has_an_invalid_signature"
    "cache::token_never_reaches_output"
    "cache::unknown_cache_is_an_error"
    "cache::untrusted_cache_config_key_is_warned_about"
    "cache::wrong_store_dir_is_refused"
    "deploy::the_cache_gate_blocks_plan_and_apply_of_a_requires_cache_stack"
    "nix::an_environment_a_stack_has_no_key_for_is_absent_in_nix_and_refused_by_gf"
    "nix::backends_nix_equals_gf_for_every_stack_and_environment_of_the_repository"
    "nix::backends_nix_equals_gf_in_a_two_environment_fixture"
    "nix::buckets_and_endpoints_gf_refuses_backends_nix_refuses_and_the_rest_render_alike"
    "nix::control_characters_are_refused_by_gf_and_by_backends_nix"
    "nix::flake_check_scripts_pass_here_with_real_gf_nix_and_tofu"
    "nix::flake_input_less_outputs_evaluate_through_nix_flakes"
    "nix::flake_lock_pins_nixpkgs_by_rev_and_nar_hash"
    "nix::flake_nix_and_every_nix_file_parse"
    "nix::hcl_significant_characters_agree"
    "nix::realise_creates_the_file_with_gf_bytes_and_no_secret"
    "nix::region_comes_from_the_contract_unless_given"
    "nix::state_keys_and_environment_names_gf_refuses_backends_nix_refuses"
    "nix::the_flake_tofu_carries_exactly_the_providers_the_stacks_declare"
    "nix::the_package_and_dev_shell_have_their_shape"
    "nix::the_sandbox_skips_only_tests_that_need_a_store_moto_or_tofu"
  ];
  # moto, the S3 server on loopback (these run tofu against it too).
  moto = [
    "deploy::a_failed_lane_apply_still_restores_the_sets"
    "deploy::a_lane_apply_in_the_wrong_context_touches_nothing"
    "deploy::applying_a_lane_stack_drains_waits_applies_and_restores"
    "lifecycle::a_second_concurrent_apply_fails_on_the_lock_and_the_state_stays_intact"
    "lifecycle::a_stale_plan_is_refused"
    "lifecycle::all_runs_in_dependency_order_and_stops_at_the_first_failure"
    "lifecycle::ctrl_c_is_forwarded_to_tofu_which_releases_its_lock"
    "lifecycle::destroy_on_a_terminal_needs_the_typed_stack_name"
    "lifecycle::doctor_reports_the_environment"
    "lifecycle::missing_state_is_refused_unless_allowed_and_the_apply_honours_the_plan"
    "lifecycle::plan_and_apply_land_state_at_the_exact_key_and_never_leak_the_secret"
  ];
  # A tofu or terraform binary, without moto.
  tofu = [
    "hygiene::user_info_in_the_s3_endpoint_stops_a_real_init_plan_and_apply_before_tofu"
    "lifecycle::a_missing_credential_is_named_and_an_unreachable_endpoint_fails_within_seconds"
    "lifecycle::dry_run_works_without_credentials_cluster_or_tofu"
    "lifecycle::wrong_context_ci_operator_and_unconfirmed_destroy_are_refused_before_anything_runs"
  ];
}
