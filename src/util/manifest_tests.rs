//! Manifest round trips, and every kind of damage refused: each byte of the
//! manifest flipped, listed files flipped at their start, middle and end,
//! truncated, extended, missing.

use super::*;

fn dir_with_files() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("resume")).unwrap();
    std::fs::write(tmp.path().join("a.json"), b"{\"x\": 1}\n").unwrap();
    std::fs::write(tmp.path().join("resume/b.bin"), vec![7u8; 3000]).unwrap();
    std::fs::write(tmp.path().join("empty"), b"").unwrap();
    tmp
}

#[test]
fn seal_then_verify_round_trips() {
    let tmp = dir_with_files();
    let m = seal(tmp.path()).unwrap();
    let names: Vec<&str> = m.entries.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(names, ["a.json", "empty", "resume/b.bin"]);
    assert_eq!(Manifest::read(tmp.path()).unwrap().unwrap(), m);
    assert_eq!(verify(tmp.path()).unwrap(), Verified::Ok { files: 3, bytes: 9 + 3000 });
    let none = tempfile::tempdir().unwrap();
    assert_eq!(verify(none.path()).unwrap(), Verified::Absent);
}

#[test]
fn every_flipped_byte_of_the_manifest_is_refused() {
    let tmp = dir_with_files();
    seal(tmp.path()).unwrap();
    let p = tmp.path().join(MANIFEST);
    let good = std::fs::read(&p).unwrap();
    for i in 0..good.len() {
        for bit in [0x01u8, 0x20, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= bit;
            assert!(Manifest::parse(&p, &bad).is_err(), "byte {i} ^ {bit:#x} accepted");
        }
    }
    for len in 0..good.len() {
        assert!(Manifest::parse(&p, &good[..len]).is_err(), "truncated to {len} accepted");
    }
}

#[test]
fn damaged_files_are_refused_by_name() {
    let tmp = dir_with_files();
    seal(tmp.path()).unwrap();
    for rel in ["a.json", "resume/b.bin"] {
        let p = tmp.path().join(rel);
        let good = std::fs::read(&p).unwrap();
        let n = good.len();
        for at in [0, n / 2, n - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            std::fs::write(&p, &bad).unwrap();
            let e = verify(tmp.path()).unwrap_err();
            assert!(matches!(e, ManifestError::Mismatch { .. }), "{e}");
            assert!(e.to_string().contains(rel), "{e}");
        }
        for bad in [&good[..n / 2], &[good.as_slice(), b"x"].concat()[..]] {
            std::fs::write(&p, bad).unwrap();
            let e = verify(tmp.path()).unwrap_err().to_string();
            assert!(e.contains(rel) && e.contains("bytes where"), "{e}");
        }
        std::fs::remove_file(&p).unwrap();
        let e = verify(tmp.path()).unwrap_err();
        assert!(matches!(e, ManifestError::Missing { .. }) && e.to_string().contains(rel), "{e}");
        std::fs::write(&p, &good).unwrap();
        verify(tmp.path()).unwrap();
    }
}

#[test]
fn known_files_only_and_names_checked() {
    let tmp = dir_with_files();
    std::fs::write(tmp.path().join("other.txt"), b"not mine").unwrap();
    let m = seal_known(tmp.path(), &["a.json", "resume/b.bin", "absent.json"]).unwrap();
    assert_eq!(m.entries.len(), 2);
    assert!(Manifest::build(tmp.path(), &["../x".into()]).is_err());
    assert!(Manifest::build(tmp.path(), &["a\nb".into()]).is_err());
}
