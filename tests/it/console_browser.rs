//! The console in a real browser: headless Chromium from Debian's
//! `chromium` and `chromium-driver`, driven over WebDriver. Signs in,
//! searches an address, opens its invite's delivery log, presses Resend and
//! sees the new email's row, replays a dead letter, and leaves screenshots
//! under `target/` (`console-screenshot.png`, `console-phone.png`).

use crate::console::{assert_inert, seed, spawn};
use crate::helpers::{API_TOKEN, wait_until};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

const CHROMIUM: &str = "/usr/bin/chromium";
const DRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn driver() -> Driver {
    for path in [CHROMIUM, DRIVER] {
        assert!(
            std::path::Path::new(path).exists(),
            "{path} is missing: apt-get install chromium chromium-driver (.ci/run does)"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(DRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    wait_until("chromedriver listening", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;
    driver
}

async fn browser(driver: &Driver) -> Client {
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1000"],
        }
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/tmp has a parent")
        .to_path_buf()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_resends_an_invite_and_replays_a_dead_letter_in_chromium() {
    let app = spawn(|_| {}).await;
    let seeded = seed(&app).await;
    let driver = driver().await;
    let b = browser(&driver).await;

    // Signs in: /console sends the browser to the sign-in form.
    b.goto(&app.url("/console")).await.unwrap();
    b.wait()
        .for_element(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(API_TOKEN)
        .await
        .unwrap();
    b.find(Locator::Css("form.sign-in button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let h1 = b
        .wait()
        .for_element(Locator::XPath("//h1[.='Overview']"))
        .await
        .unwrap();
    assert_eq!(h1.text().await.unwrap(), "Overview");
    assert!(b.current_url().await.unwrap().path() == "/console");

    // Searches the address and opens its invite's delivery log.
    let q = b.find(Locator::Css("header input[name=q]")).await.unwrap();
    q.send_keys("ada@example.com").await.unwrap();
    b.find(Locator::Css("header form.search button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let link = b
        .wait()
        .for_element(Locator::LinkText(&seeded.invite_event))
        .await
        .unwrap();
    link.click().await.unwrap();
    b.wait()
        .for_element(Locator::XPath(
            "//h3[contains(., 'invite to ada@example.com')]",
        ))
        .await
        .unwrap();
    assert_inert(&b.source().await.unwrap());

    // Presses Resend and sees the new email's row.
    b.find(Locator::XPath("//button[.='Resend']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::XPath(
            "//p[@class='notice' and .='Email queued again.']",
        ))
        .await
        .unwrap();
    let rows = b
        .find_all(Locator::XPath(
            "//tr[contains(@class,'email') and td[.='ada@example.com']]",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "the original and the resent invite");
    let newest = rows[0].attr("id").await.unwrap().expect("row id");
    let new_id = newest.strip_prefix("email-").unwrap();
    let event_id: String =
        sqlx::query_scalar("SELECT event_id FROM email_outbox WHERE id = $1::uuid")
            .bind(new_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(event_id.starts_with("resend-"), "{event_id}");

    // Replays the dead letter once its invite exists.
    app.publish(
        "invite.created",
        json!({"id": "inv_late", "email": "late@example.com"}),
    )
    .await;
    app.wait_processed(4).await;
    b.goto(&app.url("/console/dead-letters")).await.unwrap();
    b.wait()
        .for_element(Locator::XPath(
            "//dd[@class='reason' and contains(., 'unknown invite')]",
        ))
        .await
        .unwrap();
    b.find(Locator::XPath("//button[.='Replay the oldest']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::XPath(
            "//p[@class='notice' and .='Dead letter replayed.']",
        ))
        .await
        .unwrap();
    app.wait_processed(5).await;

    // The overview, for the README and CI's artifacts; then at phone width.
    b.goto(&app.url("/console")).await.unwrap();
    b.wait()
        .for_element(Locator::Id("emails-sent"))
        .await
        .unwrap();
    let shot = b.screenshot().await.unwrap();
    std::fs::write(target_dir().join("console-screenshot.png"), &shot).unwrap();
    assert!(shot.starts_with(b"\x89PNG"));
    b.set_window_size(390, 844).await.unwrap();
    b.goto(&app.url(&format!("/console/events/{}", seeded.invite_event)))
        .await
        .unwrap();
    let wide: f64 = b
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    let shown: f64 = b
        .execute("return window.innerWidth", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(
        wide <= shown + 1.0,
        "the page scrolls sideways at phone width: {wide} > {shown}"
    );
    std::fs::write(
        target_dir().join("console-phone.png"),
        b.screenshot().await.unwrap(),
    )
    .unwrap();
    b.close().await.unwrap();
}
