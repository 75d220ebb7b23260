//! What a template sees: the outbox row's data plus the link built from the
//! token and `HERALD_LINK_BASE_URL`, and human-readable expiry.

use crate::store::EmailTemplate;
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use std::time::Duration;
use timeago::{Language, TimeUnit};

/// Everything but RFC 3986 unreserved characters is encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn enc(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// Builds the template context for one email. `token` is the opened token,
/// present for invite and reset emails; `locale` (the email's) sets the
/// language of the expiry date. A derived value that cannot be derived is
/// left out, so that strict mode fails naming it instead of rendering a hole.
pub fn render_context(
    template: EmailTemplate,
    data: &Value,
    token: Option<&str>,
    link_base: &str,
    locale: Option<&str>,
) -> Value {
    let mut ctx = data.clone();
    let Some(map) = ctx.as_object_mut() else {
        return ctx;
    };
    let text = |key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let token = token.unwrap_or_default();
    let link = match template {
        EmailTemplate::Invite => format!("{link_base}/invite?token={}", enc(token)),
        EmailTemplate::PasswordReset => format!(
            "{link_base}/reset-password?token={}&email={}",
            enc(token),
            enc(&text("email"))
        ),
        EmailTemplate::Welcome => link_base.to_owned(),
    };
    // From `expires_at` at render time, so the wording follows an expiry
    // given upstream and stays true for an email sent late. `ttl_minutes`
    // is read only from rows written before `expires_at` was in every reset.
    let expires_at = text("expires_at").parse::<DateTime<Utc>>().ok();
    let expires_in = match (expires_at, map.get("ttl_minutes").and_then(Value::as_u64)) {
        (Some(at), _) => Some(human_duration(
            (at - Utc::now()).to_std().unwrap_or_default(),
            locale,
        )),
        (None, Some(minutes)) => Some(human_duration(Duration::from_secs(minutes * 60), locale)),
        _ => None,
    };
    map.insert("link".into(), json!(link));
    if let Some(expires_in) = expires_in {
        map.insert("expires_in".into(), json!(expires_in));
    }
    if let Some(at) = expires_at {
        map.insert("expires_at_text".into(), json!(date_text(at, locale)));
    }
    for key in ["first_name", "last_name", "invited_by", "role", "email"] {
        map.entry(key).or_insert(Value::Null);
    }
    ctx
}

/// "1 January 2030, 00:00 UTC", with month names in the email's language
/// (chrono's locale data: `fr` → "1 janvier 2030, 00:00 UTC").
pub fn date_text(at: DateTime<Utc>, locale: Option<&str>) -> String {
    const FORMAT: &str = "%-d %B %Y, %H:%M UTC";
    match locale.and_then(chrono_locale) {
        Some(locale) => at.format_localized(FORMAT, locale).to_string(),
        None => at.format(FORMAT).to_string(),
    }
}

/// `fr-CA` → `fr_CA`; a bare language `fr` → `fr_FR` (its home country).
fn chrono_locale(locale: &str) -> Option<chrono::Locale> {
    let locale = locale.trim().replace('-', "_");
    let (lang, country) = match locale.split_once('_') {
        Some((lang, country)) => (lang.to_ascii_lowercase(), country.to_ascii_uppercase()),
        None => (locale.to_ascii_lowercase(), locale.to_ascii_uppercase()),
    };
    chrono::Locale::try_from(format!("{lang}_{country}").as_str())
        .ok()
        .or_else(|| chrono::Locale::try_from(lang.as_str()).ok())
}

/// "45 minutes", "2 hours", "7 days": rounded to the unit a reader expects,
/// with the unit's word in the email's language (timeago's translations:
/// `fr` → "7 jours"); English when the language has none.
pub fn human_duration(d: Duration, locale: Option<&str>) -> String {
    let minutes = (d.as_secs() + 30) / 60;
    let (n, unit) = if minutes < 120 {
        (minutes.max(1), TimeUnit::Minutes)
    } else if minutes < 48 * 60 {
        ((minutes + 30) / 60, TimeUnit::Hours)
    } else {
        ((minutes + 12 * 60) / (24 * 60), TimeUnit::Days)
    };
    let language = locale
        .and_then(language)
        .unwrap_or_else(|| timeago::languages::boxup(timeago::English));
    let word = language.get_word(unit, n);
    let gap = language.between_value_and_word();
    if language.place_unit_before(n) {
        format!("{word}{gap}{n}")
    } else {
        format!("{n}{gap}{word}")
    }
}

/// `fr-CA` → French, by the ISO 639-1 code before the region.
fn language(locale: &str) -> Option<timeago::BoxedLanguage> {
    let code = locale.split(['-', '_']).next()?.trim().to_ascii_lowercase();
    timeago::languages::IsolangLanguage::from_639_1(&code).and_then(timeago::from_isolang)
}

/// Data shaped like what each handler writes, for `templates check`.
pub fn sample_data(template: EmailTemplate) -> Value {
    let expires = (Utc::now() + chrono::Duration::days(7)).to_rfc3339();
    match template {
        EmailTemplate::Invite => {
            json!({"invite_id": "inv_sample", "email": "ada@example.com", "role": "admin",
                           "first_name": "Ada", "invited_by": "grace@example.com", "expires_at": expires})
        }
        EmailTemplate::PasswordReset => {
            json!({"email": "ada@example.com", "user_id": "user_sample", "first_name": "Ada",
                                   "last_name": "Lovelace", "expires_at": expires})
        }
        EmailTemplate::Welcome => {
            json!({"user_id": "user_sample", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_encode_token_and_email() {
        let ctx = render_context(
            EmailTemplate::PasswordReset,
            &json!({"email": "a+b@example.com", "ttl_minutes": 60}),
            Some("t/k=n"),
            "https://x.test/app",
            None,
        );
        assert_eq!(
            ctx["link"],
            "https://x.test/app/reset-password?token=t%2Fk%3Dn&email=a%2Bb%40example.com"
        );
        assert_eq!(ctx["expires_in"], "60 minutes");
        let ctx = render_context(
            EmailTemplate::Invite,
            &json!({}),
            Some("abc_-"),
            "https://x.test/app",
            None,
        );
        assert_eq!(ctx["link"], "https://x.test/app/invite?token=abc_-");
    }

    #[test]
    fn expiry_wording_follows_expires_at() {
        let at = Utc::now() + chrono::Duration::minutes(15) + chrono::Duration::seconds(5);
        let data = json!({"email": "a@example.com", "expires_at": at, "ttl_minutes": 60});
        let ctx = render_context(
            EmailTemplate::PasswordReset,
            &data,
            Some("t"),
            "https://x.test",
            None,
        );
        assert_eq!(ctx["expires_in"], "15 minutes");
        assert_eq!(
            ctx["expires_at_text"],
            at.format("%-d %B %Y, %H:%M UTC").to_string()
        );
        let data = json!({"expires_at": Utc::now() + chrono::Duration::days(3)});
        let ctx = render_context(
            EmailTemplate::Invite,
            &data,
            Some("t"),
            "https://x.test",
            None,
        );
        assert_eq!(ctx["expires_in"], "3 days");
    }

    #[test]
    fn dates_follow_the_locale_and_missing_expiry_is_left_out() {
        let at = "2030-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(date_text(at, None), "1 January 2030, 00:00 UTC");
        assert_eq!(date_text(at, Some("fr")), "1 janvier 2030, 00:00 UTC");
        assert_eq!(date_text(at, Some("de")), "1 Januar 2030, 00:00 UTC");
        assert_eq!(date_text(at, Some("xx")), "1 January 2030, 00:00 UTC");
        let ctx = render_context(
            EmailTemplate::Invite,
            &json!({}),
            Some("t"),
            "https://x.test",
            None,
        );
        assert!(ctx.get("expires_in").is_none() && ctx.get("expires_at_text").is_none());
    }

    #[test]
    fn durations_read_naturally() {
        let d = |secs| human_duration(Duration::from_secs(secs), None);
        assert_eq!(d(3600), "60 minutes");
        assert_eq!(d(3 * 3600), "3 hours");
        assert_eq!(d(7 * 86400 - 5), "7 days");
        assert_eq!(d(60), "1 minute");
    }

    #[test]
    fn durations_follow_the_locale() {
        let week = Duration::from_secs(7 * 86400);
        assert_eq!(human_duration(week, Some("fr-CA")), "7 jours");
        assert_eq!(
            human_duration(Duration::from_secs(60), Some("fr")),
            "1 minute"
        );
        assert_eq!(
            human_duration(Duration::from_secs(3 * 3600), Some("de")),
            "3 Stunden"
        );
        // No translation for the language: English rather than nothing.
        assert_eq!(human_duration(week, Some("xx")), "7 days");
    }
}
