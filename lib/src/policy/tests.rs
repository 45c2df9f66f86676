//! The policy's rules one by one, then its properties over random days of three domains:
//! P1 no thrash, P2 no starvation, P3 one answer whichever trigger asks.

use super::*;
use crate::ledger::record::{Holder, Request};
use crate::schedule;
use crate::window::Window;
use chrono::TimeZone;
use proptest::prelude::*;

fn utc(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap()
}

fn settings() -> Settings {
    Settings {
        lead: Duration::minutes(30),
        grace: Duration::minutes(30),
        release_at_window_end: false,
        request_ttl: Duration::hours(2),
        release_at_shutdown: true,
    }
}

fn domains() -> Vec<String> {
    vec!["a".into(), "b".into(), "c".into()]
}

/// a: 20:00-01:00, b: 02:00-07:00, c: no window.
fn occurrences(windows: &[(&str, &str)]) -> BTreeMap<String, Vec<Occurrence>> {
    windows
        .iter()
        .map(|(d, w)| {
            let parsed: Vec<Window> =
                w.split(';').filter(|x| !x.is_empty()).map(|x| Window::parse(x).unwrap()).collect();
            (d.to_string(), schedule::occurrences(d, &parsed, utc(20, 0, 0), utc(30, 0, 0), &Utc))
        })
        .collect()
}

fn site() -> BTreeMap<String, Vec<Occurrence>> {
    occurrences(&[("a", "Mon-Sun 20:00-01:00"), ("b", "Mon-Sun 02:00-07:00"), ("c", "")])
}

fn owned(d: &str) -> Record {
    Record::new("L", State::Owned { owner: d.into() }, utc(25, 0, 0))
}

fn with_request(mut r: Record, d: &str, at: DateTime<Utc>, until: Option<DateTime<Utc>>) -> Record {
    r.requests.push(Request { domain: d.into(), at, until });
    r
}

fn ask(trigger: Trigger, record: &Record, me: &str, now: DateTime<Utc>, idle: bool) -> Decision {
    let occ = site();
    let ds = domains();
    decide(trigger, &Situation { record, me, domains: &ds, occurrences: &occ, now, settings: settings(), idle })
}

#[test]
fn a_request_never_takes_the_library_from_the_holders_open_window() {
    let r = with_request(owned("a"), "c", utc(25, 21, 0), Some(utc(25, 23, 0)));
    for trigger in [Trigger::Tick, Trigger::EndHook] {
        let d = ask(trigger, &r, "a", utc(25, 22, 0), true);
        assert!(matches!(d, Decision::Keep { .. }), "{trigger:?}: {d:?}");
    }
}

#[test]
fn the_holder_keeps_the_library_when_nobody_else_claims_it() {
    let d = ask(Trigger::Tick, &owned("a"), "a", utc(26, 1, 10), true);
    assert!(matches!(d, Decision::Keep { .. }), "{d:?}");
    assert!(d.why().contains("no other domain claims"), "{d:?}");
}

#[test]
fn the_holder_releases_once_its_claim_ended_and_another_waits() {
    // b's window opens at 02:00, with the lead at 01:30.
    let d = ask(Trigger::Tick, &owned("a"), "a", utc(26, 1, 30), true);
    assert!(matches!(d, Decision::Release { ended_jobs: false, .. }), "{d:?}");
    // Jobs still running: the claim lasts until the grace (01:30); then they are ended.
    let d = ask(Trigger::EndHook, &owned("a"), "a", utc(26, 1, 29), false);
    assert!(matches!(d, Decision::Keep { .. }), "{d:?}");
    let d = ask(Trigger::Tick, &owned("a"), "a", utc(26, 1, 30), false);
    assert!(matches!(d, Decision::Release { ended_jobs: true, .. }), "{d:?}");
    assert!(d.why().contains("running jobs are ended"), "{d:?}");
}

#[test]
fn release_at_window_end_keeps_todays_behaviour_for_sites_that_want_it() {
    let occ = site();
    let ds = domains();
    let record = owned("a");
    let mut st = settings();
    st.release_at_window_end = true;
    let s = Situation {
        record: &record,
        me: "a",
        domains: &ds,
        occurrences: &occ,
        now: utc(26, 1, 0),
        settings: st,
        idle: true,
    };
    assert!(matches!(decide(Trigger::Tick, &s), Decision::Release { .. }));
}

#[test]
fn expired_requests_are_ignored() {
    let r = with_request(owned("a"), "c", utc(26, 0, 0), Some(utc(26, 1, 5)));
    assert!(matches!(ask(Trigger::Tick, &r, "a", utc(26, 1, 1), true), Decision::Release { .. }));
    assert!(matches!(ask(Trigger::Tick, &r, "a", utc(26, 1, 5), true), Decision::Keep { .. }));
    // A request without an expiry (older ftl) is no claim.
    let r = with_request(owned("a"), "c", utc(26, 0, 0), None);
    assert!(matches!(ask(Trigger::Tick, &r, "a", utc(26, 1, 10), true), Decision::Keep { .. }));
}

#[test]
fn a_free_library_goes_to_the_earliest_claim_ties_by_domain_order() {
    let free = Record::new("L", State::Free, utc(25, 0, 0));
    // c asked at 01:00, b's window claim starts at 01:30: c is earlier.
    let r = with_request(free.clone(), "c", utc(26, 1, 0), Some(utc(26, 3, 0)));
    assert!(matches!(ask(Trigger::Tick, &r, "c", utc(26, 1, 40), true), Decision::Acquire { .. }));
    assert!(matches!(ask(Trigger::Tick, &r, "b", utc(26, 1, 40), true), Decision::Nothing { .. }));
    // The same instant: a before c in [domains].
    let r = with_request(
        with_request(free, "c", utc(26, 9, 0), Some(utc(26, 10, 0))),
        "a",
        utc(26, 9, 0),
        Some(utc(26, 10, 0)),
    );
    assert!(matches!(ask(Trigger::Tick, &r, "a", utc(26, 9, 1), true), Decision::Acquire { .. }));
    assert!(matches!(ask(Trigger::Tick, &r, "c", utc(26, 9, 1), true), Decision::Nothing { .. }));
}

#[test]
fn nobody_acquires_without_a_valid_claim_of_its_own() {
    let free = Record::new("L", State::Free, utc(25, 0, 0));
    assert!(matches!(ask(Trigger::Tick, &free, "c", utc(26, 12, 0), true), Decision::Nothing { .. }));
    let r = with_request(free, "c", utc(26, 9, 0), Some(utc(26, 10, 0)));
    assert!(matches!(ask(Trigger::Tick, &r, "c", utc(26, 10, 0), true), Decision::Nothing { .. }));
}

#[test]
fn hooks_and_manual_acquires_record_requests_that_expire() {
    let r = owned("a");
    // Inside b's window: until the window's end; outside any window: the ttl.
    let d = ask(Trigger::StartHook, &r, "b", utc(26, 3, 0), true);
    assert_eq!(d, Decision::Request { why: d.why().into(), until: utc(26, 7, 0) });
    let d = ask(Trigger::ManualAcquire, &r, "c", utc(26, 12, 0), true);
    assert_eq!(d, Decision::Request { why: d.why().into(), until: utc(26, 14, 0) });
    // Asked again with the same or a shorter expiry: nothing new.
    let r = with_request(r, "c", utc(26, 12, 0), Some(utc(26, 14, 0)));
    assert!(matches!(ask(Trigger::StartHook, &r, "c", utc(26, 12, 0), true), Decision::Nothing { .. }));
    // A tick outside the domain's windows asks nothing.
    assert!(matches!(ask(Trigger::Tick, &owned("a"), "c", utc(26, 12, 0), true), Decision::Nothing { .. }));
}

#[test]
fn interrupted_and_broken_sequences() {
    use crate::ledger::record::{Operation, StepRef};
    let holder = Holder { domain: "a".into(), host: "h".into(), pid: 1, boot_id: "b".into() };
    let step = StepRef {
        operation: Operation::Release,
        id: "R3".into(),
        name: "drives at BOT".into(),
        started: utc(25, 0, 0),
    };
    let r = Record::new("L", State::Releasing { holder: holder.clone(), step: step.clone() }, utc(25, 0, 0));
    assert!(matches!(ask(Trigger::Tick, &r, "a", utc(26, 12, 0), true), Decision::Resume { .. }));
    assert!(matches!(ask(Trigger::StartHook, &r, "a", utc(26, 12, 0), true), Decision::Nothing { .. }));
    let r = Record::new("L", State::Broken { holder, step }, utc(25, 0, 0));
    assert!(matches!(ask(Trigger::Tick, &r, "a", utc(26, 12, 0), true), Decision::Nothing { .. }));
}

#[test]
fn boot_and_shutdown() {
    assert!(matches!(ask(Trigger::Boot, &owned("a"), "a", utc(26, 12, 0), true), Decision::BringUp { .. }));
    assert!(matches!(ask(Trigger::Boot, &owned("a"), "b", utc(26, 12, 0), true), Decision::Nothing { .. }));
    assert!(matches!(ask(Trigger::Shutdown, &owned("a"), "a", utc(26, 12, 0), true), Decision::Release { .. }));
    assert!(matches!(ask(Trigger::Shutdown, &owned("a"), "a", utc(26, 12, 0), false), Decision::Keep { .. }));
}

/// One simulated domain in the property test.
#[derive(Debug, Clone)]
struct Model {
    record: Record,
    busy: [bool; 3],
    handovers: usize,
    claims_started: usize,
    had_claim: [bool; 3],
}

const NAMES: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Step {
    /// Minutes pass, then every domain ticks (in order).
    Wait(u32),
    /// A job of domain i starts (its start hook) or ends (its end hook).
    Job(usize, bool),
    /// An operator on domain i asks for the library for so many minutes.
    Ask(usize, u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u32..20).prop_map(Step::Wait),
        2 => (0usize..3, any::<bool>()).prop_map(|(i, s)| Step::Job(i, s)),
        1 => (0usize..3, 5u32..240).prop_map(|(i, m)| Step::Ask(i, m)),
    ]
}

fn window() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        4 => (0u32..24, 0u32..4, 1u32..10).prop_map(|(h, q, len)| {
            let start = h * 60 + q * 15;
            let end = (start + len * 30) % 1440;
            format!("Mon-Sun {:02}:{:02}-{:02}:{:02}", start / 60, start % 60, end / 60, end % 60)
        }),
    ]
}

fn situation<'a>(
    m: &'a Model,
    me: &'a str,
    ds: &'a [String],
    occ: &'a BTreeMap<String, Vec<Occurrence>>,
    now: DateTime<Utc>,
) -> Situation<'a> {
    let i = NAMES.iter().position(|n| *n == me).unwrap();
    Situation { record: &m.record, me, domains: ds, occurrences: occ, now, settings: settings(), idle: !m.busy[i] }
}

/// Applies a decision to the model as a completed (instant) hand-over would.
fn apply(m: &mut Model, me: &str, d: &Decision, now: DateTime<Utc>) {
    match d {
        Decision::Acquire { .. } => {
            assert_eq!(m.record.state, State::Free, "{me} acquires a library that is not free: {d:?}");
            m.record.state = State::Owned { owner: me.into() };
            m.handovers += 1;
        }
        Decision::Release { .. } => {
            assert!(
                matches!(&m.record.state, State::Owned { owner } if owner == me),
                "{me} releases what it does not own"
            );
            m.record.state = State::Free;
            m.record.requests.retain(|r| r.domain != me);
        }
        Decision::Request { until, .. } => {
            m.record.requests.retain(|r| r.domain != me);
            m.record.requests.push(Request { domain: me.into(), at: now, until: Some(*until) });
        }
        _ => {}
    }
    m.record.requests.retain(|r| r.until.is_some_and(|u| u > now));
}

fn count_claim_starts(m: &mut Model, ds: &[String], occ: &BTreeMap<String, Vec<Occurrence>>, now: DateTime<Utc>) {
    for (i, d) in NAMES.iter().enumerate() {
        let s = situation(m, d, ds, occ, now);
        let has = claim(&s, d, m.busy[i] && m.record.state.owner() == Some(*d)).is_some();
        if has && !m.had_claim[i] {
            m.claims_started += 1;
        }
        m.had_claim[i] = has;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_days_keep_the_properties(
        windows in proptest::collection::vec(window(), 3),
        steps in proptest::collection::vec(step(), 1..40),
        first_owner in 0usize..3,
    ) {
        let occ = occurrences(&[("a", &windows[0]), ("b", &windows[1]), ("c", &windows[2])]);
        let ds = domains();
        let mut now = utc(25, 0, 0);
        let mut m = Model { record: owned(NAMES[first_owner]), busy: [false; 3], handovers: 0, claims_started: 0, had_claim: [false; 3] };
        // Claims open at the start count as started, except the first owner's own.
        count_claim_starts(&mut m, &ds, &occ, now);
        if m.had_claim[first_owner] {
            m.claims_started -= 1;
        }
        let mut starved = 0;
        for st in &steps {
            match st {
                Step::Wait(minutes) => {
                    for _ in 0..*minutes {
                        now += Duration::minutes(1);
                        for me in NAMES {
                            let s = situation(&m, me, &ds, &occ, now);
                            let tick = decide(Trigger::Tick, &s);
                            // P3: the holder's end hook decides what its tick decides; a domain
                            // whose window is open decides at its start hook what its tick does.
                            if m.record.state.owner() == Some(me) {
                                prop_assert_eq!(&decide(Trigger::EndHook, &s), &tick);
                            } else if open_window(&s, me).is_some() {
                                let hook = decide(Trigger::StartHook, &s);
                                prop_assert_eq!(hook.action(), tick.action(), "{} at {}: {:?} vs {:?}", me, now, hook, tick);
                            }
                            apply(&mut m, me, &tick, now);
                        }
                        count_claim_starts(&mut m, &ds, &occ, now);
                        // P1: never more hand-overs than claims that started.
                        prop_assert!(m.handovers <= m.claims_started, "{} hand-overs for {} claims", m.handovers, m.claims_started);
                        // P2: no claim waits behind an idle holder without a claim, or a free library,
                        // for more than a minute (every domain ticks every minute).
                        let holder_idle_unclaimed = match &m.record.state {
                            State::Owned { owner } => {
                                let i = NAMES.iter().position(|n| n == owner).unwrap();
                                let s = situation(&m, owner, &ds, &occ, now);
                                !m.busy[i] && claim(&s, owner, false).is_none()
                            }
                            State::Free => true,
                            _ => false,
                        };
                        let someone_waits = NAMES.iter().any(|d| {
                            m.record.state.owner() != Some(*d) && claim(&situation(&m, d, &ds, &occ, now), d, false).is_some()
                        });
                        if holder_idle_unclaimed && someone_waits {
                            starved += 1;
                            prop_assert!(starved <= 1, "a claim waited {} minutes at {}: {:?}", starved, now, m.record);
                        } else {
                            starved = 0;
                        }
                    }
                }
                Step::Job(i, start) => {
                    let me = NAMES[*i];
                    if *start {
                        m.busy[*i] = true;
                        let s = situation(&m, me, &ds, &occ, now);
                        let d = decide(Trigger::StartHook, &s);
                        // A hook never hands the library over itself: it records the request,
                        // and the acquire follows on a later tick once the holder lets go.
                        if let Decision::Request { .. } = d {
                            apply(&mut m, me, &d, now);
                        }
                    } else {
                        m.busy[*i] = false;
                        let s = situation(&m, me, &ds, &occ, now);
                        let d = decide(Trigger::EndHook, &s);
                        apply(&mut m, me, &d, now);
                    }
                    count_claim_starts(&mut m, &ds, &occ, now);
                }
                Step::Ask(i, minutes) => {
                    let me = NAMES[*i];
                    if m.record.state.owner() != Some(me) {
                        m.record.requests.retain(|r| r.domain != me);
                        m.record.requests.push(Request { domain: me.into(), at: now, until: Some(now + Duration::minutes(i64::from(*minutes))) });
                    }
                    count_claim_starts(&mut m, &ds, &occ, now);
                }
            }
        }
    }
}
