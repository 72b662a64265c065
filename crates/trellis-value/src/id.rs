//! 160-bit unsigned identifiers (Chord's ring), arithmetic modulo 2^160.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{BitAnd, BitOr, BitXor};

pub type U160 = ruint::Uint<160, 3>;

/// 2^160 as a float: the first float too large to be an ID.
const TWO_POW_160: f64 = f64::from_bits((1023 + 160) << 52);

/// A 160-bit identifier. Written `0x1fI` or `5I` in programs and printed as
/// `0x...I` (lower-case hex, no leading zeros).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Id(pub U160);

impl Id {
    pub const ZERO: Id = Id(U160::ZERO);
    /// 2^160 - 1, the ID just before zero on the ring.
    pub const MAX: Id = Id(U160::MAX);

    pub fn from_u64(n: u64) -> Id {
        Id(U160::from(n))
    }

    /// Negative integers wrap modulo 2^160 (so `-1` is [`Id::MAX`]), which
    /// is what makes `N - 1` mean "the ID just before N" when mixed with IDs.
    pub fn from_i64(n: i64) -> Id {
        if n < 0 {
            Id(U160::from(n.unsigned_abs()).wrapping_neg())
        } else {
            Id::from_u64(n as u64)
        }
    }

    /// Hex digits only (no `0x`, no `I`); `None` if empty, not hex, or
    /// `>= 2^160`.
    pub fn parse_hex(digits: &str) -> Option<Id> {
        Self::parse_radix(digits, 16)
    }

    /// Decimal digits only (no `I`); `None` if empty, not decimal, or
    /// `>= 2^160`.
    pub fn parse_dec(digits: &str) -> Option<Id> {
        Self::parse_radix(digits, 10)
    }

    fn parse_radix(digits: &str, radix: u32) -> Option<Id> {
        // ruint tolerates `_` separators; the lexer's contract is digits only.
        let valid = !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
        valid
            .then(|| U160::from_str_radix(digits, u64::from(radix)).ok())
            .flatten()
            .map(Id)
    }

    /// Big-endian, the byte order of a SHA-1 digest.
    pub fn from_be_bytes(bytes: [u8; 20]) -> Id {
        Id(U160::from_be_bytes(bytes))
    }

    /// 160 random bits: 20 bytes from `rng`, big-endian. The one way drivers
    /// draw identifiers (`trellis cluster --node-id random`, the
    /// simulator's `random` IDs and `RANDID`, the benchmarks), so the same
    /// generator state gives the same ID everywhere. (`f_idgen` draws
    /// through the node's [`Env`](crate::Env) instead.)
    pub fn random<R: rand::Rng + ?Sized>(rng: &mut R) -> Id {
        let mut bytes = [0u8; 20];
        rng.fill_bytes(&mut bytes);
        Id::from_be_bytes(bytes)
    }

    /// Nearest float (ties to even); large IDs lose their low bits.
    pub fn to_f64(self) -> f64 {
        f64::from(self.0)
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn wrapping_add(self, rhs: Id) -> Id {
        Id(self.0.wrapping_add(rhs.0))
    }

    pub fn wrapping_sub(self, rhs: Id) -> Id {
        Id(self.0.wrapping_sub(rhs.0))
    }

    pub fn wrapping_mul(self, rhs: Id) -> Id {
        Id(self.0.wrapping_mul(rhs.0))
    }

    /// Two's complement modulo 2^160: `x + x.wrapping_neg() == 0`.
    pub fn wrapping_neg(self) -> Id {
        Id(self.0.wrapping_neg())
    }

    pub fn checked_div(self, rhs: Id) -> Option<Id> {
        self.0.checked_div(rhs.0).map(Id)
    }

    pub fn checked_rem(self, rhs: Id) -> Option<Id> {
        self.0.checked_rem(rhs.0).map(Id)
    }

    /// Bits shifted past bit 159 are lost; an amount `>= 160` gives zero.
    pub fn wrapping_shl(self, amount: u64) -> Id {
        match usize::try_from(amount) {
            Ok(n) if n < 160 => Id(self.0.wrapping_shl(n)),
            _ => Id::ZERO,
        }
    }

    /// Logical shift; an amount `>= 160` gives zero.
    pub fn wrapping_shr(self, amount: u64) -> Id {
        match usize::try_from(amount) {
            Ok(n) if n < 160 => Id(self.0.wrapping_shr(n)),
            _ => Id::ZERO,
        }
    }

    /// The ID if it fits in an `i64`, for shift amounts and the like.
    pub fn to_i64(self) -> Option<i64> {
        i64::try_from(self.0).ok()
    }

    /// The ID equal to `f`, if `f` is a non-negative integer below 2^160.
    pub fn from_f64_exact(f: f64) -> Option<Id> {
        let integral = f.fract() == 0.0 && (0.0..TWO_POW_160).contains(&f);
        integral.then(|| U160::try_from(f).ok()).flatten().map(Id)
    }

    /// Exact numeric comparison with a float (no rounding of the ID); NaN
    /// counts as greater than every ID, as in the value order.
    pub fn cmp_f64(self, f: f64) -> Ordering {
        if f.is_nan() || f >= TWO_POW_160 {
            Ordering::Less
        } else if f < 0.0 {
            Ordering::Greater
        } else {
            let floor = f.floor();
            let whole = U160::try_from(floor).expect("0 <= floor(f) < 2^160 converts exactly");
            self.0.cmp(&whole).then(if f > floor {
                Ordering::Less
            } else {
                Ordering::Equal
            })
        }
    }
}

impl BitAnd for Id {
    type Output = Id;
    fn bitand(self, rhs: Id) -> Id {
        Id(self.0 & rhs.0)
    }
}

impl BitOr for Id {
    type Output = Id;
    fn bitor(self, rhs: Id) -> Id {
        Id(self.0 | rhs.0)
    }
}

impl BitXor for Id {
    type Output = Id;
    fn bitxor(self, rhs: Id) -> Id {
        Id(self.0 ^ rhs.0)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}I", self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> Id {
        Id::from_u64(n)
    }

    #[test]
    fn prints_lower_hex_without_leading_zeros() {
        assert_eq!(Id::ZERO.to_string(), "0x0I");
        assert_eq!(id(31).to_string(), "0x1fI");
        assert_eq!(format!("{:?}", id(0xABC)), "0xabcI");
        assert_eq!(Id::MAX.to_string(), format!("0x{}I", "f".repeat(40)));
    }

    #[test]
    fn negative_integers_wrap() {
        assert_eq!(Id::from_i64(-1), Id::MAX);
        assert_eq!(Id::from_i64(-2).wrapping_add(id(2)), Id::ZERO);
        assert_eq!(Id::from_i64(i64::MIN).wrapping_neg(), id(1 << 63));
        assert_eq!(Id::from_i64(42), id(42));
    }

    #[test]
    fn parses_digits_only() {
        assert_eq!(Id::parse_hex("1f"), Some(id(31)));
        assert_eq!(Id::parse_hex("1F"), Some(id(31)));
        assert_eq!(Id::parse_dec("31"), Some(id(31)));
        assert_eq!(Id::parse_hex(&"f".repeat(40)), Some(Id::MAX));
        assert_eq!(Id::parse_hex(&format!("1{}", "0".repeat(40))), None);
        assert_eq!(
            Id::parse_dec("1461501637330902918203684832716283019655932542975"),
            Some(Id::MAX)
        );
        assert_eq!(
            Id::parse_dec("1461501637330902918203684832716283019655932542976"),
            None
        );
        for bad in ["", "0x1f", "1fI", "1_0", "-1", "1 ", "g"] {
            assert_eq!(Id::parse_hex(bad), None, "{bad:?}");
        }
        assert_eq!(Id::parse_dec("1f"), None);
    }

    #[test]
    fn ring_arithmetic_at_the_boundary() {
        assert_eq!(Id::MAX.wrapping_add(id(1)), Id::ZERO);
        assert_eq!(Id::ZERO.wrapping_sub(id(1)), Id::MAX);
        assert_eq!(Id::MAX.wrapping_mul(Id::MAX), id(1));
        assert_eq!(id(1).wrapping_neg(), Id::MAX);
        assert_eq!(id(7).checked_div(id(2)), Some(id(3)));
        assert_eq!(id(7).checked_rem(id(2)), Some(id(1)));
        assert_eq!(id(7).checked_div(Id::ZERO), None);
        assert_eq!(id(7).checked_rem(Id::ZERO), None);
    }

    #[test]
    fn shifts_drop_bits_past_the_top() {
        let top = id(1).wrapping_shl(159);
        assert_eq!(top.to_string(), format!("0x8{}I", "0".repeat(39)));
        assert_eq!(top.wrapping_shl(1), Id::ZERO);
        assert_eq!(top.wrapping_shr(159), id(1));
        assert_eq!(Id::MAX.wrapping_shl(160), Id::ZERO);
        assert_eq!(Id::MAX.wrapping_shr(160), Id::ZERO);
        assert_eq!(Id::MAX.wrapping_shr(u64::MAX), Id::ZERO);
    }

    #[test]
    fn bitwise() {
        assert_eq!(id(0b1100) & id(0b1010), id(0b1000));
        assert_eq!(id(0b1100) | id(0b1010), id(0b1110));
        assert_eq!(id(0b1100) ^ id(0b1010), id(0b0110));
    }

    #[test]
    fn bytes_are_big_endian() {
        let mut bytes = [0u8; 20];
        bytes[19] = 1;
        assert_eq!(Id::from_be_bytes(bytes), id(1));
        bytes[0] = 0x80;
        assert_eq!(Id::from_be_bytes(bytes), id(1).wrapping_shl(159) | id(1));
    }

    #[test]
    fn random_ids_are_the_generators_next_twenty_bytes() {
        use rand::{RngExt, SeedableRng};
        let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut b = a.clone();
        let mut bytes = [0u8; 20];
        for _ in 0..3 {
            b.fill(&mut bytes[..]);
            assert_eq!(Id::random(&mut a), Id::from_be_bytes(bytes));
        }
        assert_ne!(Id::random(&mut a), Id::random(&mut a));
    }

    #[test]
    fn floats() {
        assert_eq!(id(3).to_f64(), 3.0);
        assert_eq!(Id::MAX.to_f64(), TWO_POW_160);
        assert_eq!(Id::from_f64_exact(3.0), Some(id(3)));
        assert_eq!(Id::from_f64_exact(3.5), None);
        assert_eq!(Id::from_f64_exact(-1.0), None);
        assert_eq!(Id::from_f64_exact(TWO_POW_160), None);
        assert_eq!(Id::from_f64_exact(f64::NAN), None);
        assert_eq!(id(3).cmp_f64(3.0), Ordering::Equal);
        assert_eq!(id(3).cmp_f64(3.5), Ordering::Less);
        assert_eq!(id(3).cmp_f64(2.5), Ordering::Greater);
        assert_eq!(Id::ZERO.cmp_f64(-0.0), Ordering::Equal);
        assert_eq!(Id::ZERO.cmp_f64(-0.5), Ordering::Greater);
        assert_eq!(Id::MAX.cmp_f64(TWO_POW_160), Ordering::Less);
        assert_eq!(Id::MAX.cmp_f64(f64::NAN), Ordering::Less);
        assert_eq!(Id::MAX.cmp_f64(f64::INFINITY), Ordering::Less);
        // 2^53 + 1 is not a float: the comparison must not round the ID.
        assert_eq!(
            id((1 << 53) + 1).cmp_f64(9007199254740992.0),
            Ordering::Greater
        );
        assert_eq!(id(5).to_i64(), Some(5));
        assert_eq!(Id::MAX.to_i64(), None);
    }
}
