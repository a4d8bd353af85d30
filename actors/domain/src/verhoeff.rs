//! The Verhoeff checksum, the last digit of an Aadhaar number.

const D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 8, 7, 6, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];
const INV: [u8; 10] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];

/// The checksum state over ASCII digits, read from the right; `offset` 1 leaves room for a
/// check digit still to be appended.
fn fold(digits: &str, offset: usize) -> u8 {
    digits.bytes().rev().enumerate().fold(0u8, |c, (i, b)| D[c as usize][P[(i + offset) % 8][(b - b'0') as usize] as usize])
}

/// Whether a string of ASCII digits ends in its correct Verhoeff check digit.
pub fn is_valid(digits: &str) -> bool {
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && fold(digits, 0) == 0
}

/// The Verhoeff check digit to append to `digits` (ASCII digits).
pub fn check_digit(digits: &str) -> char {
    debug_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
    char::from(b'0' + INV[fold(digits, 1) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert!(is_valid("2363"));
        assert!(!is_valid("2364"));
        assert!(is_valid("234567890124"));
        assert!(!is_valid(""));
        assert!(!is_valid("12a4"));
        assert_eq!(check_digit("236"), '3');
        assert_eq!(check_digit("23456789012"), '4');
        for n in ["1", "98765", "12345678901"] {
            assert!(is_valid(&format!("{n}{}", check_digit(n))));
        }
    }
}
