//! Image references: parsing never panics, and what parses round-trips through its canonical form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use preflight::Reference;
use preflight::reference::{Digest, Grammar};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Digest::parse(text);
    let _ = preflight::Platform::parse(text);
    // Each runtime's parser: never a panic, and what it accepts it accepts again canonically.
    for grammar in [
        Grammar::Distribution,
        Grammar::ContainerdCopy,
        Grammar::ContainersImage,
    ] {
        if let Ok(r) = Reference::parse_with(text, grammar) {
            let canonical = r.canonical();
            let again = Reference::parse_with(&canonical, grammar).unwrap_or_else(|e| {
                panic!(
                    "canonical form {canonical:?} of {text:?} does not parse under {grammar:?}: {e}"
                )
            });
            assert_eq!(again.canonical(), canonical);
        }
    }
    let Ok(reference) = Reference::parse(text) else {
        return;
    };
    let canonical = reference.canonical();
    let again = Reference::parse(&canonical)
        .unwrap_or_else(|e| panic!("canonical form {canonical:?} of {text:?} does not parse: {e}"));
    assert_eq!(
        again.canonical(),
        canonical,
        "canonical form is not stable for {text:?}"
    );
    assert_eq!(again.registry(), reference.registry());
    assert_eq!(again.repository(), reference.repository());
    assert_eq!(again.tag(), reference.tag());
    assert_eq!(again.digest(), reference.digest());
    let _ = (
        reference.api_host(),
        reference.manifest_reference(),
        reference.to_string(),
    );
});
