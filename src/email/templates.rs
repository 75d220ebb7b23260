//! The `invite`, `password_reset` and `welcome` templates: a subject, a text
//! and an HTML body each, per-locale variants beside them
//! (`invite/html.fr.hbs`), sharing partials from `partials/`.
//!
//! Two registries, because escaping is registry-wide: HTML bodies escape
//! every value; subjects and text bodies escape nothing (they are not HTML),
//! and subjects are folded to one line so no value can start a header.

use crate::store::EmailTemplate;
use handlebars::Handlebars;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const PARTS: [&str; 3] = ["subject", "text", "html"];

#[derive(Debug, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct TemplateError {
    pub file: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Templates {
    html: Handlebars<'static>,
    plain: Handlebars<'static>,
    /// Locales that have at least one variant file, per kind.
    locales: Vec<(EmailTemplate, BTreeSet<String>)>,
    dir: PathBuf,
}

impl Templates {
    /// Loads and compiles every template; a missing or broken file is an
    /// error naming it.
    pub fn load(dir: &Path) -> Result<Self, TemplateError> {
        let mut html = Handlebars::new();
        let mut plain = Handlebars::new();
        for registry in [&mut html, &mut plain] {
            registry.set_strict_mode(true);
            registry.set_prevent_indent(true);
        }
        plain.register_escape_fn(handlebars::no_escape);
        let file_err = |path: &Path, reason: String| TemplateError {
            file: path.display().to_string(),
            reason,
        };
        let read =
            |path: &Path| std::fs::read_to_string(path).map_err(|e| file_err(path, e.to_string()));

        let partials = dir.join("partials");
        for entry in std::fs::read_dir(&partials).map_err(|e| file_err(&partials, e.to_string()))? {
            let path = entry
                .map_err(|e| file_err(&partials, e.to_string()))?
                .path();
            let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            let (registry, name) = if let Some(name) = file.strip_suffix(".html.hbs") {
                (&mut html, name)
            } else if let Some(name) = file.strip_suffix(".txt.hbs") {
                (&mut plain, name)
            } else {
                continue;
            };
            let source = read(&path)?;
            registry
                .register_partial(name, source)
                .map_err(|e| file_err(&path, e.to_string()))?;
        }

        let mut locales = Vec::new();
        for &template in EmailTemplate::ALL {
            let kind = template.as_str();
            let kind_dir = dir.join(kind);
            let mut found = BTreeSet::new();
            for entry in
                std::fs::read_dir(&kind_dir).map_err(|e| file_err(&kind_dir, e.to_string()))?
            {
                let path = entry
                    .map_err(|e| file_err(&kind_dir, e.to_string()))?
                    .path();
                let Some(stem) = path
                    .file_name()
                    .and_then(|f| f.to_str())
                    .and_then(|f| f.strip_suffix(".hbs"))
                else {
                    continue;
                };
                let (part, locale) = stem
                    .split_once('.')
                    .map_or((stem, None), |(p, l)| (p, Some(l)));
                if !PARTS.contains(&part) {
                    continue;
                }
                let registry = if part == "html" {
                    &mut html
                } else {
                    &mut plain
                };
                registry
                    .register_template_string(&format!("{kind}/{stem}"), read(&path)?)
                    .map_err(|e| file_err(&path, e.to_string()))?;
                if let Some(locale) = locale {
                    found.insert(locale.to_ascii_lowercase());
                }
            }
            for part in PARTS {
                let registry = if part == "html" { &html } else { &plain };
                if !registry.has_template(&format!("{kind}/{part}")) {
                    return Err(file_err(
                        &kind_dir.join(format!("{part}.hbs")),
                        "missing".into(),
                    ));
                }
            }
            locales.push((template, found));
        }
        Ok(Self {
            html,
            plain,
            locales,
            dir: dir.to_owned(),
        })
    }

    /// Renders one email, taking each part from the most specific locale
    /// that has it (`fr-ca`, then `fr`), else the default.
    pub fn render(
        &self,
        template: EmailTemplate,
        locale: Option<&str>,
        data: &Value,
    ) -> Result<Rendered, TemplateError> {
        let kind = template.as_str();
        let part = |part: &str| -> Result<String, TemplateError> {
            let registry = if part == "html" {
                &self.html
            } else {
                &self.plain
            };
            let name = candidates(locale)
                .into_iter()
                .map(|l| format!("{kind}/{part}.{l}"))
                .find(|name| registry.has_template(name))
                .unwrap_or_else(|| format!("{kind}/{part}"));
            registry.render(&name, data).map_err(|e| TemplateError {
                file: self.dir.join(format!("{name}.hbs")).display().to_string(),
                reason: e.reason().to_string(),
            })
        };
        Ok(Rendered {
            subject: one_line(&part("subject")?),
            text: part("text")?,
            html: part("html")?,
        })
    }

    /// Renders every template and every locale variant with sample data.
    pub fn check(&self, link_base: &str) -> Result<usize, TemplateError> {
        let mut rendered = 0;
        for (kind, locales) in &self.locales {
            let kind = *kind;
            for locale in std::iter::once(None).chain(locales.iter().map(|l| Some(l.as_str()))) {
                let data = crate::email::render_context(
                    kind,
                    &crate::email::sample_data(kind),
                    Some("sample-token"),
                    link_base,
                    locale,
                );
                self.render(kind, locale, &data)?;
                rendered += 1;
            }
        }
        Ok(rendered)
    }
}

/// `fr-CA` → `["fr-ca", "fr"]`.
fn candidates(locale: Option<&str>) -> Vec<String> {
    let Some(locale) = locale.map(|l| l.trim().replace('_', "-").to_ascii_lowercase()) else {
        return Vec::new();
    };
    if locale.is_empty()
        || !locale
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Vec::new();
    }
    let mut out = vec![locale.clone()];
    if let Some((lang, _)) = locale.split_once('-') {
        out.push(lang.to_owned());
    }
    out
}

/// Control characters (CR, LF, tabs) become spaces and runs of spaces fold:
/// a subject is one line whatever the values in it.
fn one_line(raw: &str) -> String {
    raw.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_candidates_go_from_specific_to_general() {
        assert_eq!(candidates(Some("fr_CA")), ["fr-ca", "fr"]);
        assert_eq!(candidates(Some("de")), ["de"]);
        assert!(candidates(Some("../etc")).is_empty());
        assert!(candidates(None).is_empty());
    }

    #[test]
    fn subjects_are_folded_to_one_line() {
        assert_eq!(
            one_line(" Hi\r\nBcc: eve@evil.test \t x"),
            "Hi Bcc: eve@evil.test x"
        );
    }
}
