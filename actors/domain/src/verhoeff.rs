//! The Verhoeff checksum, the last digit of an Aadhaar number.
//!
//! The checksum works in the dihedral group D5 (the symmetries of a pentagon): digits 0–4
//! are its rotations, 5–9 its reflections. Its three tables — the group's multiplication,
//! the inverse and the position permutation — follow from that and are built at compile
//! time rather than written out.

/// `D[j][k]`: the product of `j` and `k` in D5.
const D: [[u8; 10]; 10] = {
    let mut t = [[0u8; 10]; 10];
    let mut j = 0;
    while j < 10 {
        let mut k = 0;
        while k < 10 {
            let (a, b) = (j % 5, k % 5);
            t[j][k] = match (j < 5, k < 5) {
                (true, true) => (a + b) % 5,
                (true, false) => 5 + (a + b) % 5,
                (false, true) => 5 + (a + 5 - b) % 5,
                (false, false) => (a + 5 - b) % 5,
            } as u8;
            k += 1;
        }
        j += 1;
    }
    t
};

/// The permutation applied to the digit in position `i` (from the right) is `σ^(i mod 8)`.
const SIGMA: [u8; 10] = [1, 5, 7, 6, 2, 8, 3, 0, 9, 4];
const P: [[u8; 10]; 8] = {
    let mut t = [[0u8; 10]; 8];
    let mut d = 0;
    while d < 10 {
        t[0][d] = d as u8;
        d += 1;
    }
    let mut i = 1;
    while i < 8 {
        let mut d = 0;
        while d < 10 {
            t[i][d] = SIGMA[t[i - 1][d] as usize];
            d += 1;
        }
        i += 1;
    }
    t
};

/// The inverse in D5: a rotation's is the opposite rotation, a reflection is its own.
const INV: [u8; 10] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];

/// The checksum state over ASCII digits, read from the right; `offset` 1 leaves room for a
/// check digit still to be appended.
fn fold(digits: &str, offset: usize) -> u8 {
    digits.bytes().rev().enumerate().fold(0u8, |c, (i, b)| {
        D[c as usize][P[(i + offset) % 8][(b - b'0') as usize] as usize]
    })
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
        // The published multiplication table's second and last rows, and P's second.
        assert_eq!(D[1], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5]);
        assert_eq!(D[5], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1]);
        assert_eq!(D[9], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
        assert_eq!(P[2], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2]);
        assert_eq!(P[7], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]);
        for j in 0..10 {
            assert_eq!(D[j][INV[j] as usize], 0, "{j} · inv({j}) is the identity");
        }
        for n in ["1", "98765", "12345678901"] {
            assert!(is_valid(&format!("{n}{}", check_digit(n))));
        }
    }
}
