//! Generators of realistic, valid customer data (Chinese names, mainland phones,
//! GB 11643 ID numbers) for tests, the demo salon and the benchmark.

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
