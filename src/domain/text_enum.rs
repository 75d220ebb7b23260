//! Closed sets of words kept in TEXT columns (statuses, outcomes). Each is
//! decoded when its row is read, so a word outside the set fails there,
//! and Rust downstream matches variants instead of comparing strings.
//! Bound and read as plain `text` (and `text[]`), so binding one costs no
//! type lookup and the SQL beside it is unchanged.

/// A stored word that is not one of its set's.
#[derive(Debug, thiserror::Error)]
#[error("{word:?} is not a {kind} (one of {allowed})")]
pub struct NotInSet {
    pub kind: &'static str,
    pub word: String,
    pub allowed: String,
}

impl NotInSet {
    /// At most 64 characters of the word: it came from a column, and an
    /// error quoting it may end up in a log.
    pub fn new(kind: &'static str, word: &str, allowed: &[&str]) -> Self {
        Self {
            kind,
            word: word.chars().take(64).collect(),
            allowed: allowed.join(", "),
        }
    }
}

/// `enum Name { Variant = "word", … }`, with `as_str`, `FromStr`,
/// `Display`, serde as the words, and sqlx as `text`.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident as $kind:literal {
            $($(#[$vmeta:meta])* $variant:ident = $word:tt),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The words, in the order of `ALL`.
            pub const WORDS: &'static [&'static str] = &[$($word),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::NotInSet;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok($name::$variant),)+
                    other => Err($crate::domain::NotInSet::new(
                        $kind,
                        other,
                        &[$($word),+],
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
            fn array_compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::postgres::PgHasArrayType>::array_compatible(ty)
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let word = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                Ok(word.parse::<$name>()?)
            }
        }
    };
}

pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    text_enum! {
        #[derive(utoipa::ToSchema)]
        enum Light as "light" { Red = "red", AmberFlashing = "amber_flashing" }
    }

    #[test]
    fn the_schema_lists_the_words() {
        let schema = serde_json::to_value(<Light as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(
            schema["enum"],
            serde_json::json!(["red", "amber_flashing"]),
            "{schema}"
        );
    }

    #[test]
    fn words_round_trip_through_text_and_json() {
        for light in Light::ALL {
            assert_eq!(light.as_str().parse::<Light>().unwrap(), *light);
            assert_eq!(
                serde_json::to_value(light).unwrap(),
                serde_json::Value::from(light.as_str())
            );
        }
        assert_eq!(Light::AmberFlashing.to_string(), "amber_flashing");
        assert_eq!(Light::WORDS, ["red", "amber_flashing"]);
    }

    #[test]
    fn an_unknown_word_says_what_was_expected() {
        let e = "green".parse::<Light>().unwrap_err().to_string();
        assert_eq!(e, r#""green" is not a light (one of red, amber_flashing)"#);
    }
}
