//! Text from peers (SMTP replies, webhook responses, their errors) made fit
//! to record: PostgreSQL text holds no NUL, and a peer's answer is bounded.

/// At most `max_bytes` of `text`, cut on a character boundary, with NUL and
/// every other control character turned into a space.
pub fn recordable(text: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_bytes));
    for c in text.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > max_bytes {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_spaces_and_the_cut_keeps_characters_whole() {
        assert_eq!(recordable("554 no\0way\r\n\u{1b}x", 100), "554 no way   x");
        let text = recordable(&format!("a{}", "é".repeat(100)), 10);
        assert_eq!(text, "aéééé");
    }
}
