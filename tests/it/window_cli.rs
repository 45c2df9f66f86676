//! `ftl-window show` and `tick` through the binary: planned hand-overs, overlaps, windows read
//! from NetBackup policies, and daylight-saving days in a real time zone.

use crate::support::*;

fn show(site: &SimSite, tz: &str, now: &str) -> serde_json::Value {
    let out = run({
        let mut c = site.ftl("marmaduke", "ftl-window");
        c.env("TZ", tz).args(["show", "--json", "--days", "10", "--now", now]);
        c
    });
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn spans(plan: &serde_json::Value, domain: &str) -> Vec<(String, String)> {
    plan["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["domain"] == domain)
        .map(|o| (o["start"].as_str().unwrap().to_string(), o["end"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn show_plans_the_hand_overs_and_flags_overlaps() {
    let site = SimSite::new();
    let out = run({
        let mut c = site.ftl("marmaduke", "ftl-window");
        c.env("TZ", "UTC").args(["show", "--now", "2026-11-25T12:00:00Z", "--days", "1"]);
        c
    });
    let text = stdout(&out);
    // marmaduke owns already and keeps the library until flinstones' claim begins (01:30).
    assert!(!text.contains("acquire marmaduke"), "{text}");
    assert!(text.contains("Thu 2026-11-26 01:30  release marmaduke"), "{text}");
    assert!(text.contains("Thu 2026-11-26 01:30  acquire flinstones"), "{text}");
    assert!(text.contains("overlaps: none"), "{text}");
    site.set_windows("flinstones", "[\"Mon-Sun 00:00-03:00\"]");
    let out = run({
        let mut c = site.ftl("marmaduke", "ftl-window");
        c.env("TZ", "UTC").args(["show", "--now", "2026-11-25T12:00:00Z", "--days", "1"]);
        c
    });
    assert!(stdout(&out).contains("OVERLAP: marmaduke"), "{}", stdout(&out));
}

/// Europe/Berlin skips 02:00-03:00 on 2026-03-29 and repeats 02:00-03:00 on 2026-10-25.
#[test]
fn windows_keep_their_wall_clock_times_on_daylight_saving_days() {
    let site = SimSite::new();
    site.set_windows("marmaduke", "[\"Sun 02:30-05:00\", \"Sat 23:00-01:00\"]");
    let plan = show(&site, "Europe/Berlin", "2026-03-27T12:00:00Z");
    let m = spans(&plan, "marmaduke");
    // Spring: 02:30 does not exist; the window opens at 03:00 CEST (01:00 UTC), ends 05:00 CEST.
    assert!(m.contains(&("2026-03-29T01:00:00Z".into(), "2026-03-29T03:00:00Z".into())), "{m:?}");
    // Saturday 23:00 CET to Sunday 01:00 CET, before the change: two real hours.
    assert!(m.contains(&("2026-03-28T22:00:00Z".into(), "2026-03-29T00:00:00Z".into())), "{m:?}");
    site.set_windows("marmaduke", "[\"Sun 01:00-04:00\"]");
    let plan = show(&site, "Europe/Berlin", "2026-10-23T12:00:00Z");
    let m = spans(&plan, "marmaduke");
    // Autumn: 01:00 CEST (23:00 UTC) to 04:00 CET (03:00 UTC): four real hours for three on the clock.
    assert!(m.contains(&("2026-10-24T23:00:00Z".into(), "2026-10-25T03:00:00Z".into())), "{m:?}");
    // A normal Sunday a week later: three hours.
    assert!(m.contains(&("2026-11-01T00:00:00Z".into(), "2026-11-01T03:00:00Z".into())), "{m:?}");
}

#[test]
fn windows_come_from_netbackup_policies() {
    let site = SimSite::new();
    site.set_windows("marmaduke", "[]");
    site.edit_config("marmaduke", |t| {
        t.replace("windows = []", "windows = []\npolicies = [\"daily-marmaduke\", \"weekly-marmaduke\"]")
    });
    let plan = show(&site, "UTC", "2026-11-25T12:00:00Z");
    let windows = &plan["windows"].as_array().unwrap().iter().find(|w| w[0] == "marmaduke").unwrap()[1];
    let list: Vec<&str> = windows.as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert_eq!(
        list,
        vec![
            "Mon 20:00-01:00",
            "Tue 20:00-01:00",
            "Wed 20:00-01:00",
            "Thu 20:00-01:00",
            "Fri 20:00-01:00",
            "Sat 20:00-01:00",
            "Sun 20:00-01:00"
        ]
    );
    assert!(site.count_calls("bppllist") >= 2);
    site.edit_config("marmaduke", |t| t.replace("\"weekly-marmaduke\"", "\"no-such-policy\""));
    let out = run({
        let mut c = site.ftl("marmaduke", "ftl-window");
        c.args(["show"]);
        c
    });
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bppllist no-such-policy -U") && stderr(&out).contains("does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn tick_acts_by_the_windows_and_is_idempotent() {
    let site = SimSite::new();
    let tick = |domain: &str, now: &str| {
        let out = run({
            let mut c = site.ftl(domain, "ftl-window");
            c.env("TZ", "UTC").args(["tick", "--json", "--now", now]);
            c
        });
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    // A rehearsal decides for a future week: requests made then are still valid now.
    assert_eq!(tick("marmaduke", "2030-11-25T21:00:00Z")["action"], "keep", "in its window: keep");
    assert_eq!(tick("flinstones", "2030-11-26T00:30:00Z")["action"], "nothing", "before its lead");
    assert_eq!(tick("flinstones", "2030-11-26T01:30:00Z")["action"], "request");
    assert_eq!(tick("flinstones", "2030-11-26T01:31:00Z")["action"], "nothing", "the request stands");
    let released = tick("marmaduke", "2030-11-26T01:00:00Z");
    assert_eq!(released["action"], "release", "{released}");
    assert_eq!(tick("marmaduke", "2030-11-26T01:01:00Z")["action"], "nothing");
    let acquired = tick("flinstones", "2030-11-26T01:32:00Z");
    assert_eq!(acquired["action"], "acquire", "{acquired}");
    assert_eq!(site.ledger("flinstones")["owner"], "flinstones");
    assert_eq!(tick("flinstones", "2030-11-26T01:33:00Z")["action"], "keep");
    let out = run({
        let mut c = site.ftl("flinstones", "ftl-window");
        c.args(["tick", "--now", "yesterday"]);
        c
    });
    assert_eq!(code(&out), 2);
}

/// Windows that start or end inside the hour a daylight-saving change skips or repeats, in both
/// changes of 2026 and 2027 (Europe/Berlin: the last Sundays of March and October). A time in the
/// repeated hour means its first occurrence; one in the skipped hour, the first minute after it.
#[test]
fn windows_starting_or_ending_inside_the_changed_hour() {
    let site = SimSite::new();
    let cases = [
        // (window, --now, expected start, expected end)
        ("Sun 02:30-06:00", "2026-03-27T12:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T04:00:00Z"),
        ("Sun 00:00-02:30", "2026-03-27T12:00:00Z", "2026-03-28T23:00:00Z", "2026-03-29T01:00:00Z"),
        ("Sun 02:30-06:00", "2026-10-23T12:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T05:00:00Z"),
        ("Sun 00:00-02:30", "2026-10-23T12:00:00Z", "2026-10-24T22:00:00Z", "2026-10-25T00:30:00Z"),
        ("Sun 02:30-06:00", "2027-03-26T12:00:00Z", "2027-03-28T01:00:00Z", "2027-03-28T04:00:00Z"),
        ("Sun 00:00-02:30", "2027-03-26T12:00:00Z", "2027-03-27T23:00:00Z", "2027-03-28T01:00:00Z"),
        ("Sun 02:30-06:00", "2027-10-29T12:00:00Z", "2027-10-31T00:30:00Z", "2027-10-31T05:00:00Z"),
        ("Sun 00:00-02:30", "2027-10-29T12:00:00Z", "2027-10-30T22:00:00Z", "2027-10-31T00:30:00Z"),
    ];
    for (window, now, start, end) in cases {
        site.set_windows("marmaduke", &format!("[\"{window}\"]"));
        let plan = show(&site, "Europe/Berlin", now);
        let m = spans(&plan, "marmaduke");
        assert!(m.contains(&(start.to_string(), end.to_string())), "{window} from {now}: {m:?}");
    }
    // The tick agrees: at 00:45Z on 2026-10-25 the window opened at 00:30Z is open, so the owner
    // keeps the library although flinstones' window (02:00-07:00 local) has begun too.
    site.set_windows("marmaduke", "[\"Sun 02:30-06:00\"]");
    let out = run({
        let mut c = site.ftl("marmaduke", "ftl-window");
        c.env("TZ", "Europe/Berlin").args(["tick", "--dry-run", "--json", "--now", "2026-10-25T00:45:00Z"]);
        c
    });
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["action"], "keep", "{d}");
}
