//! The IEEE half-precision values a [`QuantizedMatrix`] stores.
//!
//! Written out rather than taken from a crate: the values are narrow (zero
//! or normal, within `[-1, 1]`), the scalar kernels need them without
//! `alloc`, and the `half` crate's F16C path cannot run under Miri.
//!
//! [`QuantizedMatrix`]: super::QuantizedMatrix

/// The IEEE half nearest to `x` (ties to even), for `|x| <= 1`; zero (of
/// `x`'s sign) where that half would be subnormal.
#[cfg(feature = "alloc")]
pub(crate) fn f16_from_unit(x: f32) -> u16 {
    debug_assert!(x.abs() <= 1.0);
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let smallest_normal = f32::from_bits(113 << 23); // 2^-14
    if x.abs() < smallest_normal {
        // Halfway between 2^-14 and the largest subnormal, ties go to
        // 2^-14 (even); below that, the nearest half is subnormal.
        let halfway = smallest_normal - f32::from_bits(102 << 23); // 2^-14 - 2^-25
        return if x.abs() >= halfway {
            sign | 0x0400
        } else {
            sign
        };
    }
    // f32 exponent e (biased 127) is f16 exponent e - 112 (biased 15).
    let mut exponent = (bits >> 23) & 0xff;
    let mantissa = bits & 0x7f_ffff;
    let (mut half, rest) = (mantissa >> 13, mantissa & 0x1fff);
    if rest > 0x1000 || (rest == 0x1000 && half & 1 == 1) {
        half += 1;
        if half == 0x400 {
            half = 0;
            exponent += 1;
        }
    }
    sign | (((exponent - 112) << 10) | half) as u16
}

/// The value of a half that is zero or normal (all a `QuantizedMatrix`
/// stores): its bits moved to an `f32`'s places.
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let h = u32::from(h);
    let sign = (h & 0x8000) << 16;
    if h & 0x7fff == 0 {
        return f32::from_bits(sign);
    }
    let exponent = ((h >> 10) & 0x1f) + 112;
    f32::from_bits(sign | (exponent << 23) | ((h & 0x3ff) << 13))
}
