//! Compile-fail cases: each `.rs` file under `ui/` must fail with the message in its `.stderr`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
