//! QR codes (ISO/IEC 18004, model 2) in byte mode at error-correction level M, versions 1 to
//! 40, drawn as a PNG: what `CreateVirtualMFADevice` returns for an authenticator app to scan.
//! Pure. The tables are the standard's (level M only); the mask is chosen by the standard's
//! penalty rules.

/// Error-correction codewords per block, and blocks, at level M, by version (index 0 unused).
const ECC_PER_BLOCK: [usize; 41] = [
    0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
];
const BLOCKS: [usize; 41] = [
    0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23,
    25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49,
];
/// Level M's two format bits.
const LEVEL_M: u32 = 0b00;

/// A QR code's modules, row by row (`true` is dark).
pub struct QrCode {
    size: usize,
    modules: Vec<bool>,
    function: Vec<bool>,
}

/// Modules of a version that carry data and error correction (all but the function patterns).
fn raw_data_modules(version: usize) -> usize {
    let mut modules = (16 * version + 128) * version + 64;
    if version >= 2 {
        let alignments = version / 7 + 2;
        modules -= (25 * alignments - 10) * alignments - 55;
        if version >= 7 {
            modules -= 36;
        }
    }
    modules
}

fn data_codewords(version: usize) -> usize {
    raw_data_modules(version) / 8 - ECC_PER_BLOCK[version] * BLOCKS[version]
}

/// Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1.
fn gf_mul(x: u8, y: u8) -> u8 {
    let mut z: u16 = 0;
    for i in (0..8).rev() {
        z = (z << 1) ^ ((z >> 7) * 0x11d);
        z ^= u16::from((y >> i) & 1) * u16::from(x);
    }
    (z & 0xff) as u8
}

/// The Reed-Solomon generator polynomial of a degree (highest coefficient, 1, left out).
fn rs_divisor(degree: usize) -> Vec<u8> {
    let mut result = vec![0u8; degree];
    result[degree - 1] = 1;
    let mut root = 1u8;
    for _ in 0..degree {
        for j in 0..degree {
            result[j] = gf_mul(result[j], root);
            if j + 1 < degree {
                result[j] ^= result[j + 1];
            }
        }
        root = gf_mul(root, 0x02);
    }
    result
}

fn rs_remainder(data: &[u8], divisor: &[u8]) -> Vec<u8> {
    let mut result = vec![0u8; divisor.len()];
    for byte in data {
        let factor = byte ^ result[0];
        result.remove(0);
        result.push(0);
        for (r, d) in result.iter_mut().zip(divisor) {
            *r ^= gf_mul(*d, factor);
        }
    }
    result
}

/// Splits data codewords into the version's blocks, adds each block's error correction, and
/// interleaves them as the symbol stores them.
fn with_error_correction(version: usize, data: &[u8]) -> Vec<u8> {
    let blocks = BLOCKS[version];
    let ecc = ECC_PER_BLOCK[version];
    let raw = raw_data_modules(version) / 8;
    let short_blocks = blocks - raw % blocks;
    let short_len = raw / blocks;
    let divisor = rs_divisor(ecc);
    let mut all = Vec::with_capacity(blocks);
    let mut at = 0;
    for i in 0..blocks {
        let len = short_len - ecc + usize::from(i >= short_blocks);
        let block_data = &data[at..at + len];
        at += len;
        let mut block = block_data.to_vec();
        if i < short_blocks {
            block.push(0); // a place holder, skipped when interleaving
        }
        block.extend(rs_remainder(block_data, &divisor));
        all.push(block);
    }
    let mut out = Vec::with_capacity(raw);
    for i in 0..=short_len {
        for (j, block) in all.iter().enumerate() {
            if i != short_len - ecc || j >= short_blocks {
                out.push(block[i]);
            }
        }
    }
    out
}

fn alignment_positions(version: usize) -> Vec<usize> {
    if version == 1 {
        return Vec::new();
    }
    let count = version / 7 + 2;
    let step = if version == 32 {
        26
    } else {
        (version * 4 + count * 2 + 1) / (count * 2 - 2) * 2
    };
    let size = version * 4 + 17;
    let mut positions = vec![6];
    let mut at = size - 7;
    for _ in 0..count - 1 {
        positions.insert(1, at);
        at -= step;
    }
    positions
}

impl QrCode {
    /// Encodes bytes in the smallest version that holds them; `None` if none does.
    pub fn encode(data: &[u8]) -> Option<QrCode> {
        let count_bits = |v: usize| if v <= 9 { 8 } else { 16 };
        let version = (1..=40).find(|&v| {
            data.len() < 1 << count_bits(v)
                && 4 + count_bits(v) + data.len() * 8 <= data_codewords(v) * 8
        })?;
        let mut bits: Vec<bool> = Vec::new();
        let mut push = |value: usize, n: usize| {
            for i in (0..n).rev() {
                bits.push((value >> i) & 1 == 1);
            }
        };
        push(0b0100, 4); // byte mode
        push(data.len(), count_bits(version));
        for byte in data {
            push(usize::from(*byte), 8);
        }
        let capacity = data_codewords(version) * 8;
        let terminator = (capacity - bits.len()).min(4);
        bits.extend(std::iter::repeat_n(false, terminator));
        bits.extend(std::iter::repeat_n(false, (8 - bits.len() % 8) % 8));
        let mut codewords: Vec<u8> = bits
            .chunks(8)
            .map(|byte| byte.iter().fold(0u8, |acc, b| (acc << 1) | u8::from(*b)))
            .collect();
        for pad in [0xec, 0x11].into_iter().cycle() {
            if codewords.len() >= data_codewords(version) {
                break;
            }
            codewords.push(pad);
        }
        let size = version * 4 + 17;
        let mut qr = QrCode {
            size,
            modules: vec![false; size * size],
            function: vec![false; size * size],
        };
        qr.draw_function_patterns(version);
        qr.draw_codewords(&with_error_correction(version, &codewords));
        let mask = (0..8)
            .min_by_key(|&mask| {
                qr.apply_mask(mask);
                qr.draw_format_bits(mask);
                let penalty = qr.penalty();
                qr.apply_mask(mask); // XOR again: undone
                penalty
            })
            .unwrap_or(0);
        qr.apply_mask(mask);
        qr.draw_format_bits(mask);
        Some(qr)
    }

    #[cfg(test)]
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether the module at column `x`, row `y` is dark.
    pub fn dark(&self, x: usize, y: usize) -> bool {
        self.modules[y * self.size + x]
    }

    fn set_function(&mut self, x: usize, y: usize, dark: bool) {
        self.modules[y * self.size + x] = dark;
        self.function[y * self.size + x] = true;
    }

    fn draw_function_patterns(&mut self, version: usize) {
        let size = self.size;
        for i in 0..size {
            self.set_function(6, i, i % 2 == 0);
            self.set_function(i, 6, i % 2 == 0);
        }
        for (cx, cy) in [(3, 3), (size - 4, 3), (3, size - 4)] {
            for dy in -4i64..=4 {
                for dx in -4i64..=4 {
                    let (x, y) = (cx as i64 + dx, cy as i64 + dy);
                    if (0..size as i64).contains(&x) && (0..size as i64).contains(&y) {
                        let distance = dx.abs().max(dy.abs());
                        self.set_function(x as usize, y as usize, distance != 2 && distance != 4);
                    }
                }
            }
        }
        let positions = alignment_positions(version);
        let last = positions.len().saturating_sub(1);
        for (i, &x) in positions.iter().enumerate() {
            for (j, &y) in positions.iter().enumerate() {
                // Not over the finder patterns (three corners).
                let corners = [(0, 0), (0, last), (last, 0)];
                if corners.contains(&(i, j)) {
                    continue;
                }
                for dy in -2i64..=2 {
                    for dx in -2i64..=2 {
                        let distance = dx.abs().max(dy.abs());
                        self.set_function(
                            (x as i64 + dx) as usize,
                            (y as i64 + dy) as usize,
                            distance != 1,
                        );
                    }
                }
            }
        }
        self.draw_format_bits(0); // reserves the area; redrawn once the mask is chosen
        if version >= 7 {
            let mut rem = version as u32;
            for _ in 0..12 {
                rem = (rem << 1) ^ ((rem >> 11) * 0x1f25);
            }
            let bits = ((version as u32) << 12) | rem;
            for i in 0..18 {
                let dark = (bits >> i) & 1 == 1;
                let (a, b) = (size - 11 + i % 3, i / 3);
                self.set_function(a, b, dark);
                self.set_function(b, a, dark);
            }
        }
    }

    fn draw_format_bits(&mut self, mask: u32) {
        let data = (LEVEL_M << 3) | mask;
        let mut rem = data;
        for _ in 0..10 {
            rem = (rem << 1) ^ ((rem >> 9) * 0x537);
        }
        let bits = ((data << 10) | rem) ^ 0x5412;
        let bit = |i: usize| (bits >> i) & 1 == 1;
        let size = self.size;
        for i in 0..=5 {
            self.set_function(8, i, bit(i));
        }
        self.set_function(8, 7, bit(6));
        self.set_function(8, 8, bit(7));
        self.set_function(7, 8, bit(8));
        for i in 9..15 {
            self.set_function(14 - i, 8, bit(i));
        }
        for i in 0..8 {
            self.set_function(size - 1 - i, 8, bit(i));
        }
        for i in 8..15 {
            self.set_function(8, size - 15 + i, bit(i));
        }
        self.set_function(8, size - 8, true); // the dark module
    }

    /// Places the codewords in the zigzag of two-module columns, right to left, skipping the
    /// vertical timing pattern; remainder bits stay light.
    fn draw_codewords(&mut self, data: &[u8]) {
        let size = self.size as i64;
        let mut i = 0usize;
        let mut right = size - 1;
        while right >= 1 {
            if right == 6 {
                right = 5;
            }
            for vertical in 0..size {
                for j in 0..2 {
                    let x = (right - j) as usize;
                    let upward = (right + 1) & 2 == 0;
                    let y = if upward {
                        size - 1 - vertical
                    } else {
                        vertical
                    } as usize;
                    let at = y * self.size + x;
                    if !self.function[at] && i < data.len() * 8 {
                        self.modules[at] = (data[i >> 3] >> (7 - (i & 7))) & 1 == 1;
                        i += 1;
                    }
                }
            }
            right -= 2;
        }
    }

    fn apply_mask(&mut self, mask: u32) {
        for y in 0..self.size {
            for x in 0..self.size {
                let invert = match mask {
                    0 => (x + y) % 2 == 0,
                    1 => y % 2 == 0,
                    2 => x % 3 == 0,
                    3 => (x + y) % 3 == 0,
                    4 => (x / 3 + y / 2) % 2 == 0,
                    5 => x * y % 2 + x * y % 3 == 0,
                    6 => (x * y % 2 + x * y % 3) % 2 == 0,
                    _ => ((x + y) % 2 + x * y % 3) % 2 == 0,
                };
                let at = y * self.size + x;
                if invert && !self.function[at] {
                    self.modules[at] = !self.modules[at];
                }
            }
        }
    }

    /// The standard's penalty score (lower reads more reliably): long runs, 2×2 blocks,
    /// finder-like patterns, and an unbalanced share of dark modules.
    fn penalty(&self) -> usize {
        let n = self.size;
        let mut score = 0;
        let line = |i: usize, j: usize, rows: bool| {
            if rows {
                self.dark(j, i)
            } else {
                self.dark(i, j)
            }
        };
        const FINDER_LIKE: [bool; 11] = [
            true, false, true, true, true, false, true, false, false, false, false,
        ];
        for rows in [true, false] {
            for i in 0..n {
                let mut run = 1;
                for j in 1..=n {
                    if j < n && line(i, j, rows) == line(i, j - 1, rows) {
                        run += 1;
                    } else {
                        if run >= 5 {
                            score += run - 2;
                        }
                        run = 1;
                    }
                }
                // Dark-light-dark×3-light-dark with four light modules on one side (outside the
                // symbol is the light quiet zone).
                let at = |j: i64| j >= 0 && (j as usize) < n && line(i, j as usize, rows);
                for start in -4i64..n as i64 {
                    let forward = (0..11).all(|k| at(start + k) == FINDER_LIKE[k as usize]);
                    let backward = (0..11).all(|k| at(start + k) == FINDER_LIKE[10 - k as usize]);
                    score += 40 * (usize::from(forward) + usize::from(backward));
                }
            }
        }
        for y in 0..n - 1 {
            for x in 0..n - 1 {
                let c = self.dark(x, y);
                if c == self.dark(x + 1, y)
                    && c == self.dark(x, y + 1)
                    && c == self.dark(x + 1, y + 1)
                {
                    score += 3;
                }
            }
        }
        let dark = self.modules.iter().filter(|d| **d).count();
        let total = n * n;
        // 10 points per whole 5% step away from half dark.
        let k = (dark * 20)
            .abs_diff(total * 10)
            .div_ceil(total)
            .saturating_sub(1);
        score + k * 10
    }

    /// A PNG of the code: black on white, `scale` pixels a module, with the four-module
    /// quiet zone the standard asks for; one-bit greyscale.
    pub fn to_png(&self, scale: usize) -> Vec<u8> {
        const QUIET: usize = 4;
        let width = (self.size + 2 * QUIET) * scale;
        let row_bytes = width.div_ceil(8);
        let mut raw = Vec::with_capacity((row_bytes + 1) * width);
        for py in 0..width {
            raw.push(0); // filter: none
            let mut row = vec![0xffu8; row_bytes];
            for px in 0..width {
                let (mx, my) = (px / scale, py / scale);
                let dark = (QUIET..QUIET + self.size).contains(&mx)
                    && (QUIET..QUIET + self.size).contains(&my)
                    && self.dark(mx - QUIET, my - QUIET);
                if dark {
                    row[px / 8] &= !(0x80 >> (px % 8));
                }
            }
            raw.extend(row);
        }
        let width = u32::try_from(width).unwrap_or(u32::MAX);
        let mut header = Vec::with_capacity(13);
        header.extend(width.to_be_bytes());
        header.extend(width.to_be_bytes());
        header.extend([1, 0, 0, 0, 0]); // bit depth 1, greyscale, deflate, no filter, no interlace
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut png, b"IHDR", &header);
        chunk(
            &mut png,
            b"IDAT",
            &miniz_oxide::deflate::compress_to_vec_zlib(&raw, 9),
        );
        chunk(&mut png, b"IEND", &[]);
        png
    }
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend(u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    png.extend(kind);
    png.extend(data);
    png.extend(crc.finalize().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_m_tables_agree_with_the_standards_capacities() {
        // Byte-mode capacities at level M (ISO/IEC 18004, table 7) for a sample of versions.
        let byte_capacity =
            |v: usize| (data_codewords(v) * 8 - 4 - if v <= 9 { 8 } else { 16 }) / 8;
        for (version, capacity) in [
            (1, 14),
            (2, 26),
            (5, 84),
            (7, 122),
            (10, 213),
            (20, 666),
            (40, 2331),
        ] {
            assert_eq!(byte_capacity(version), capacity, "version {version}");
        }
        // Total codewords per version (the standard's table 1), a sample.
        for (version, total) in [(1, 26), (7, 196), (14, 581), (40, 3706)] {
            assert_eq!(raw_data_modules(version) / 8, total, "version {version}");
        }
    }

    #[test]
    fn reed_solomon_matches_the_standards_example() {
        // ISO/IEC 18004 annex I: "01234567" at 1-M: data and its ten error-correction codewords.
        let data = [
            0x10, 0x20, 0x0c, 0x56, 0x61, 0x80, 0xec, 0x11, 0xec, 0x11, 0xec, 0x11, 0xec, 0x11,
            0xec, 0x11,
        ];
        assert_eq!(
            rs_remainder(&data, &rs_divisor(10)),
            [0xa5, 0x24, 0xd4, 0xc1, 0xed, 0x36, 0xc7, 0x87, 0x2c, 0x55]
        );
    }

    #[test]
    fn codes_grow_with_their_data_and_carry_the_function_patterns() {
        let small = QrCode::encode(b"otpauth://totp/x").expect("fits");
        assert_eq!(small.size(), 25); // version 2
        let large = QrCode::encode(&[b'a'; 300]).expect("fits");
        assert_eq!(large.size(), 4 * 13 + 17); // 300 bytes need version 13 at level M (331)
        for qr in [&small, &large] {
            let n = qr.size();
            // Finder patterns' dark corners and light separators; the dark module.
            for (x, y) in [(0, 0), (n - 1, 0), (0, n - 1)] {
                assert!(qr.dark(x, y));
            }
            assert!(!qr.dark(7, 7) && !qr.dark(n - 8, 7) && !qr.dark(7, n - 8));
            assert!(qr.dark(8, n - 8));
        }
        assert!(QrCode::encode(&[0; 2332]).is_none());
    }

    #[test]
    fn the_png_is_well_formed() {
        let png = QrCode::encode(b"hello").expect("fits").to_png(4);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
        assert_eq!(width, (21 + 8) * 4);
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
        // Every chunk's CRC holds.
        let mut at = 8;
        while at < png.len() {
            let len = u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]) as usize;
            let crc = crc32fast::hash(&png[at + 4..at + 8 + len]);
            let stored = &png[at + 8 + len..at + 12 + len];
            assert_eq!(crc.to_be_bytes(), stored);
            at += 12 + len;
        }
    }
}
