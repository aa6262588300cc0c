//! Linux CPU lists (`0-3,8,10-11`), as sysfs writes them.

use alloc::vec::Vec;

/// Parses a CPU list into ascending ids, or `None` if it is malformed.
/// An empty (or all-whitespace) list is valid and empty.
pub(crate) fn parse(text: &str) -> Option<Vec<u32>> {
    let mut ids = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let id = part.parse::<u32>().ok()?;
                (id, id)
            }
        };
        if first > last || last - first > 1 << 16 {
            return None;
        }
        ids.extend(first..=last);
    }
    ids.sort_unstable();
    ids.dedup();
    Some(ids)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn ranges_singles_and_errors() {
        assert_eq!(
            parse("0-3,8,10-11\n"),
            Some(alloc::vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse("5"), Some(alloc::vec![5]));
        assert_eq!(parse(""), Some(alloc::vec![]));
        assert_eq!(parse("3,1-2,2"), Some(alloc::vec![1, 2, 3]));
        for bad in ["a", "3-1", "1-", "-1", "0-99999999", "1,,x"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
