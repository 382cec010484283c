//! The sign-in limits under parallel attempts, over real HTTP at
//! `POST /signin`: every attempt is counted before its password is checked,
//! so a burst cannot get more checks than the limits allow — not at one
//! replica, not split across two — and correct sign-ins give their address
//! attempt back. All requests come from 127.0.0.1: one address.

use std::sync::Arc;

use serde_json::json;
use steward::config::Secret;
use steward::core::users::{FAILURE_WINDOW, MAX_ACCOUNT_FAILURES, MAX_ADDRESS_FAILURES};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::browser_support::{Browser, Page};
use crate::helpers::{TestApp, fresh_database_url, spawn_app, spawn_app_with};

const PASSWORD: &str = "correct horse battery";
const WRONG: &str = "not the password";
/// What `POST /signin` answers: signed in (redirect back), wrong password,
/// too many attempts.
const SIGNED_IN: u16 = 303;
const WRONG_PASSWORD: u16 = 401;
const TOO_MANY: u16 = 429;

const ACCOUNT_LIMIT: usize = MAX_ACCOUNT_FAILURES as usize;
const ADDRESS_LIMIT: usize = MAX_ADDRESS_FAILURES as usize;

/// A browser holding `app`'s sign-in form (and the CSRF cookie it needs).
struct Form {
    browser: Browser,
    page: Page,
}

async fn form(app: &TestApp) -> Arc<Form> {
    let browser = Browser::new(app);
    let page = browser.get("/signin").await;
    assert_eq!(page.status, 200, "{}", page.body);
    Arc::new(Form { browser, page })
}

/// Sends every `(form, username, password)` at the same moment; the
/// answers' statuses in the same order.
async fn all_at_once(attempts: Vec<(Arc<Form>, String, String)>) -> Vec<u16> {
    let start = Arc::new(Barrier::new(attempts.len()));
    let mut running = JoinSet::new();
    for (index, (form, username, password)) in attempts.into_iter().enumerate() {
        let start = start.clone();
        running.spawn(async move {
            start.wait().await;
            let page = form
                .browser
                .sign_in_on(&form.page, &username, &password)
                .await;
            (index, page.status)
        });
    }
    let mut statuses = vec![0; running.len()];
    while let Some(done) = running.join_next().await {
        let (index, status) = done.unwrap();
        statuses[index] = status;
    }
    statuses
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn sign_in(form: &Form, username: &str, password: &str) -> u16 {
    form.browser
        .sign_in_on(&form.page, username, password)
        .await
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_for_one_account_are_checked_at_most_five_times() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD, json!({})).await;
    let at = form(&app).await;
    // Sixteen at once, in several spellings of one account.
    let spellings = ["alice", "Alice", "ALICE", "aLiCe"];
    let attempts = (0..16)
        .map(|n| (at.clone(), spellings[n % 4].to_string(), WRONG.to_string()))
        .collect();
    let statuses = all_at_once(attempts).await;
    assert_eq!(
        count(&statuses, WRONG_PASSWORD),
        ACCOUNT_LIMIT,
        "exactly the limit was checked: {statuses:?}"
    );
    assert_eq!(
        count(&statuses, TOO_MANY),
        16 - ACCOUNT_LIMIT,
        "{statuses:?}"
    );
    // Locked: the right password is refused for the rest of the window.
    assert_eq!(sign_in(&at, "alice", PASSWORD).await, TOO_MANY);
    assert!(at.browser.cookie("steward_session").is_none());

    // The eleven refused unchecked did not use up the address: fifteen more
    // wrong attempts on other accounts are all checked, the next is not.
    let others = (0..ADDRESS_LIMIT - ACCOUNT_LIMIT)
        .map(|n| (at.clone(), format!("nobody{n}"), WRONG.to_string()))
        .collect();
    let statuses = all_at_once(others).await;
    assert_eq!(
        count(&statuses, WRONG_PASSWORD),
        statuses.len(),
        "{statuses:?}"
    );
    assert_eq!(sign_in(&at, "nobody-else", WRONG).await, TOO_MANY);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_attempts_from_one_address_are_checked_at_most_twenty_times() {
    let app = spawn_app().await;
    app.create_user("bob", PASSWORD, json!({})).await;
    let at = form(&app).await;
    let attempts = (0..40)
        .map(|n| (at.clone(), format!("user{n}"), WRONG.to_string()))
        .collect();
    let statuses = all_at_once(attempts).await;
    assert_eq!(
        count(&statuses, WRONG_PASSWORD),
        ADDRESS_LIMIT,
        "exactly the limit was checked: {statuses:?}"
    );
    assert_eq!(
        count(&statuses, TOO_MANY),
        40 - ADDRESS_LIMIT,
        "{statuses:?}"
    );
    // The address is out of attempts, even for a right password.
    assert_eq!(sign_in(&at, "bob", PASSWORD).await, TOO_MANY);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_wrong_passwords_with_the_right_one_does_not_sign_in_past_the_limit() {
    let app = spawn_app().await;
    app.create_user("carol", PASSWORD, json!({})).await;
    let at = form(&app).await;
    // The right password goes last, as an attacker's lucky guess would; the
    // order the server counts them in is not ours to choose, so bursts are
    // repeated (each in a fresh window) until one has it counted past the
    // limit — the case this is about.
    for round in 0..10 {
        let mut attempts: Vec<_> = (0..15)
            .map(|_| (at.clone(), "carol".to_string(), WRONG.to_string()))
            .collect();
        attempts.push((at.clone(), "carol".to_string(), PASSWORD.to_string()));
        let statuses = all_at_once(attempts).await;
        let (wrong, right) = statuses.split_at(15);
        assert_eq!(count(wrong, SIGNED_IN), 0, "{statuses:?}");
        match right[0] {
            TOO_MANY => {
                // Counted past the limit: it was not checked, and the five
                // that were checked were all wrong.
                assert_eq!(count(wrong, WRONG_PASSWORD), ACCOUNT_LIMIT, "{statuses:?}");
                assert!(at.browser.cookie("steward_session").is_none());
                assert_eq!(sign_in(&at, "carol", PASSWORD).await, TOO_MANY);
                assert!(at.browser.cookie("steward_session").is_none());
                // Once the window has passed, carol signs in again.
                app.clock.advance(FAILURE_WINDOW);
                assert_eq!(sign_in(&at, "carol", PASSWORD).await, SIGNED_IN);
                assert!(at.browser.cookie("steward_session").is_some());
                app.stop().await;
                return;
            }
            SIGNED_IN => {
                // Counted among the first five, so checked: at most four
                // wrong ones before it, and at most five after it cleared
                // the account's count.
                assert!(
                    count(wrong, WRONG_PASSWORD) < 2 * ACCOUNT_LIMIT,
                    "round {round}: {statuses:?}"
                );
                at.browser.drop_cookie("steward_session");
                app.clock.advance(FAILURE_WINDOW);
            }
            other => panic!("round {round}: the right password got {other}: {statuses:?}"),
        }
    }
    panic!("in ten bursts the right password was never counted past the limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_hold_in_total_across_replicas() {
    let database_url = fresh_database_url().await;
    let settings = |s: &mut steward::config::Settings| {
        s.database_url = Secret::new(database_url.clone());
        s.issuer = Some("http://steward.test".into());
    };
    let a = spawn_app_with(settings).await;
    let b = spawn_app_with(settings).await;
    a.create_user("dave", PASSWORD, json!({})).await;
    let (at_a, at_b) = (form(&a).await, form(&b).await);
    let half = |n: usize| {
        if n.is_multiple_of(2) {
            at_a.clone()
        } else {
            at_b.clone()
        }
    };

    let attempts = (0..16)
        .map(|n| (half(n), "dave".to_string(), WRONG.to_string()))
        .collect();
    let statuses = all_at_once(attempts).await;
    assert_eq!(
        count(&statuses, WRONG_PASSWORD),
        ACCOUNT_LIMIT,
        "{statuses:?}"
    );
    assert_eq!(
        count(&statuses, TOO_MANY),
        16 - ACCOUNT_LIMIT,
        "{statuses:?}"
    );
    assert_eq!(sign_in(&at_a, "dave", PASSWORD).await, TOO_MANY);
    assert_eq!(sign_in(&at_b, "dave", PASSWORD).await, TOO_MANY);

    // A fresh window on both replicas, then forty from one address.
    a.clock.advance(FAILURE_WINDOW);
    b.clock.advance(FAILURE_WINDOW);
    let attempts = (0..40)
        .map(|n| (half(n), format!("user{n}"), WRONG.to_string()))
        .collect();
    let statuses = all_at_once(attempts).await;
    assert_eq!(
        count(&statuses, WRONG_PASSWORD),
        ADDRESS_LIMIT,
        "{statuses:?}"
    );
    assert_eq!(
        count(&statuses, TOO_MANY),
        40 - ADDRESS_LIMIT,
        "{statuses:?}"
    );
    assert_eq!(sign_in(&at_b, "dave", PASSWORD).await, TOO_MANY);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correct_sign_ins_give_their_address_attempt_back() {
    let app = spawn_app().await;
    let users: Vec<String> = (0..25).map(|n| format!("member{n}")).collect();
    for user in &users {
        app.create_user(user, PASSWORD, json!({})).await;
    }
    // Nineteen failures from the address: one attempt left in the window.
    let at = form(&app).await;
    let attempts = (0..ADDRESS_LIMIT - 1)
        .map(|n| (at.clone(), format!("stranger{n}"), WRONG.to_string()))
        .collect();
    let statuses = all_at_once(attempts).await;
    assert_eq!(
        count(&statuses, WRONG_PASSWORD),
        ADDRESS_LIMIT - 1,
        "{statuses:?}"
    );
    // Twenty-five people behind the same address sign in, one after another.
    for user in &users {
        let theirs = form(&app).await;
        assert_eq!(sign_in(&theirs, user, PASSWORD).await, SIGNED_IN, "{user}");
        assert!(theirs.browser.cookie("steward_session").is_some(), "{user}");
    }
    // The failures were not given back with them: one more, and the address
    // is out of attempts.
    assert_eq!(sign_in(&at, "stranger", WRONG).await, WRONG_PASSWORD);
    let late = form(&app).await;
    assert_eq!(sign_in(&late, &users[0], PASSWORD).await, TOO_MANY);
    app.stop().await;
}
