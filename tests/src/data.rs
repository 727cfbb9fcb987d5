//! Generators of realistic, valid customer data (Chinese names, mainland phones,
//! GB 11643 ID numbers) for tests, the demo salon and the benchmark; and two real,
//! tiny images for uploads.

use events_schema::values::IdCardNumber;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平", "婷", "雪", "慧", "颖", "琳", "晶", "欣", "悦", "梅", "兰",
];
const TAGS: &[&str] = &[
    "vip", "new", "nails", "hair", "facial", "spa", "referral", "student",
];
const CHANNELS: &[&str] = &[
    "walk_in", "referral", "online", "campaign", "phone", "social",
];

pub fn chinese_name(rng: &mut impl Rng) -> String {
    let s = SURNAMES.choose(rng).copied().unwrap_or("王");
    let g1 = GIVEN.choose(rng).copied().unwrap_or("芳");
    if rng.gen_bool(0.5) {
        let g2 = GIVEN.choose(rng).copied().unwrap_or("丽");
        format!("{s}{g1}{g2}")
    } else {
        format!("{s}{g1}")
    }
}

/// A mainland mobile number derived from `n`, unique per `n` below 10^8.
pub fn phone(n: u64) -> String {
    let prefixes = ["138", "139", "150", "186", "177", "199"];
    let p = prefixes[(n / 100_000_000 % 6) as usize];
    format!("{p}{:08}", n % 100_000_000)
}

pub fn id_number(rng: &mut impl Rng) -> String {
    let region = ["110105", "310104", "440305", "330106", "510107"]
        .choose(rng)
        .copied()
        .unwrap_or("110105");
    let year = rng.gen_range(1960..2005);
    let month = rng.gen_range(1..=12);
    let day = rng.gen_range(1..=28);
    let seq = rng.gen_range(0..1000);
    let first17 = format!("{region}{year:04}{month:02}{day:02}{seq:03}");
    IdCardNumber::with_check_digit(&first17).unwrap_or_default()
}

/// A full registration body for customer number `n`.
pub fn customer(rng: &mut impl Rng, n: u64) -> Value {
    let count = rng.gen_range(0..3);
    let mut tags: Vec<&str> = TAGS.choose_multiple(rng, count).copied().collect();
    tags.sort_unstable();
    json!({
        "name": chinese_name(rng),
        "phone": phone(n),
        "gender": if rng.gen_bool(0.8) { "female" } else { "male" },
        "birthday": format!("{}-{:02}-{:02}", rng.gen_range(1960..2005), rng.gen_range(1..=12), rng.gen_range(1..=28)),
        "email": format!("guest{n}@example.com"),
        "id_number": id_number(rng),
        "address": format!("上海市徐汇区漕溪北路{}号", rng.gen_range(1..999)),
        "source_channel": CHANNELS.choose(rng).copied().unwrap_or("walk_in"),
        "tags": tags,
        "notes": "肤质偏干",
        "consent": { "privacy_policy_version": "2026-01", "marketing": rng.gen_bool(0.5) }
    })
}

/// A valid 1×1 RGB PNG (69 bytes).
pub const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x78, 0x91, 0xdf, 0x05,
    0x00, 0x04, 0x24, 0x01, 0xe2, 0xfd, 0xf4, 0xe2, 0x8a, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A valid 8×8 mid-grey baseline JPEG (JFIF, one component, 159 bytes): quantisation
/// table of ones, one-symbol Huffman tables, a single block whose DC and AC are zero.
pub fn tiny_jpeg() -> Vec<u8> {
    let mut b = vec![
        0xFF, 0xD8, // SOI
        0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00,
        0x01, 0x00, 0x00, // APP0 JFIF 1.01
        0xFF, 0xDB, 0x00, 0x43, 0x00, // DQT, table 0: 64 ones
    ];
    b.extend([1u8; 64]);
    // SOF0: 8 bits, 8×8, one component (id 1, 1×1 sampling, table 0).
    b.extend([
        0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x08, 0x00, 0x08, 0x01, 0x01, 0x11, 0x00,
    ]);
    // DHT: DC table 0 and AC table 0, each one code of length 1 for symbol 0.
    for class in [0x00, 0x10] {
        b.extend([0xFF, 0xC4, 0x00, 0x14, class, 0x01]);
        b.extend([0u8; 15]);
        b.push(0x00);
    }
    // SOS, then the scan: DC difference 0 ("0"), end of block ("0"), padded with ones.
    b.extend([
        0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0x3F, 0xFF, 0xD9,
    ]);
    b
}
