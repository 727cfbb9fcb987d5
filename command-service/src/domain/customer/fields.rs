//! The customer record's validated fields and their plaintext form for sealing.

use events_schema::customer::{CustomerField, SourceChannel};
use events_schema::values::{Birthday, Email, IdCardNumber, PersonName, Phone};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gender {
    Female,
    Male,
    Other,
    Undisclosed,
}

impl Gender {
    pub fn parse(s: &str) -> Result<Gender, &'static str> {
        match s {
            "female" => Ok(Gender::Female),
            "male" => Ok(Gender::Male),
            "other" => Ok(Gender::Other),
            "undisclosed" => Ok(Gender::Undisclosed),
            _ => Err("must be one of female, male, other, undisclosed"),
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
            Gender::Other => "other",
            Gender::Undisclosed => "undisclosed",
        }
    }
}

/// Free text with a length bound and no control characters other than newlines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreeText(String);

impl FreeText {
    pub fn parse(s: &str, max_chars: usize) -> Result<FreeText, &'static str> {
        let t = s.trim();
        if t.is_empty() {
            return Err("must not be empty (send null to clear it)");
        }
        if t.chars().count() > max_chars {
            return Err("is too long");
        }
        if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err("must not contain control characters");
        }
        Ok(FreeText(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A postal address (free text, at most 200 characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address(FreeText);

impl Address {
    pub fn parse(s: &str) -> Result<Address, &'static str> {
        FreeText::parse(s, 200).map(Address)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// A tag: 1..=32 characters, letters, digits, CJK, `-`, `_` and spaces inside.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn parse(s: &str) -> Result<Tag, &'static str> {
        let t = s.trim();
        if t.is_empty() || t.chars().count() > 32 {
            return Err("each tag must be 1 to 32 characters");
        }
        if !t
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == ' ')
        {
            return Err("tags may contain only letters, digits, '-', '_' and spaces");
        }
        Ok(Tag(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One field with its new value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldValue {
    Name(PersonName),
    Gender(Gender),
    Birthday(Birthday),
    Phone(Phone),
    Email(Email),
    IdNumber(IdCardNumber),
    Address(Address),
    SourceChannel(SourceChannel),
    Tags(Vec<Tag>),
    Notes(FreeText),
    Allergies(FreeText),
    Conditions(FreeText),
}

impl FieldValue {
    pub fn field(&self) -> CustomerField {
        match self {
            FieldValue::Name(_) => CustomerField::Name,
            FieldValue::Gender(_) => CustomerField::Gender,
            FieldValue::Birthday(_) => CustomerField::Birthday,
            FieldValue::Phone(_) => CustomerField::Phone,
            FieldValue::Email(_) => CustomerField::Email,
            FieldValue::IdNumber(_) => CustomerField::IdNumber,
            FieldValue::Address(_) => CustomerField::Address,
            FieldValue::SourceChannel(_) => CustomerField::SourceChannel,
            FieldValue::Tags(_) => CustomerField::Tags,
            FieldValue::Notes(_) => CustomerField::Notes,
            FieldValue::Allergies(_) => CustomerField::Allergies,
            FieldValue::Conditions(_) => CustomerField::Conditions,
        }
    }

    /// The plaintext that is sealed for a personal field (`None` for plain fields).
    pub fn sealable_text(&self) -> Option<String> {
        Some(match self {
            FieldValue::Name(v) => v.as_str().to_owned(),
            FieldValue::Gender(v) => v.as_str().to_owned(),
            FieldValue::Birthday(v) => v.as_string(),
            FieldValue::Phone(v) => v.as_e164().to_owned(),
            FieldValue::Email(v) => v.as_str().to_owned(),
            FieldValue::IdNumber(v) => v.as_str().to_owned(),
            FieldValue::Address(v) => v.as_str().to_owned(),
            FieldValue::Notes(v) | FieldValue::Allergies(v) | FieldValue::Conditions(v) => {
                v.as_str().to_owned()
            }
            FieldValue::SourceChannel(_) | FieldValue::Tags(_) => return None,
        })
    }

    /// Rebuilds a personal field from its opened plaintext. Stored values were valid
    /// when sealed; `today` only bounds dates, which stay valid as time passes.
    pub fn from_sealed_text(
        field: CustomerField,
        text: &str,
        today: chrono::NaiveDate,
    ) -> Result<FieldValue, &'static str> {
        let invalid = |_| "stored value no longer parses";
        Ok(match field {
            CustomerField::Name => FieldValue::Name(PersonName::parse(text).map_err(invalid)?),
            CustomerField::Gender => FieldValue::Gender(Gender::parse(text)?),
            CustomerField::Birthday => {
                FieldValue::Birthday(Birthday::parse(text, today).map_err(invalid)?)
            }
            CustomerField::Phone => FieldValue::Phone(Phone::parse(text).map_err(invalid)?),
            CustomerField::Email => FieldValue::Email(Email::parse(text).map_err(invalid)?),
            CustomerField::IdNumber => {
                FieldValue::IdNumber(IdCardNumber::parse(text, today).map_err(invalid)?)
            }
            CustomerField::Address => FieldValue::Address(Address::parse(text)?),
            CustomerField::Notes => FieldValue::Notes(FreeText::parse(text, 2000)?),
            CustomerField::Allergies => FieldValue::Allergies(FreeText::parse(text, 2000)?),
            CustomerField::Conditions => FieldValue::Conditions(FreeText::parse(text, 2000)?),
            CustomerField::SourceChannel | CustomerField::Tags => return Err("not a sealed field"),
        })
    }
}

/// The full validated record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerDetails {
    pub name: PersonName,
    pub phone: Phone,
    pub source_channel: SourceChannel,
    pub gender: Option<Gender>,
    pub birthday: Option<Birthday>,
    pub email: Option<Email>,
    pub id_number: Option<IdCardNumber>,
    pub address: Option<Address>,
    pub tags: Vec<Tag>,
    pub notes: Option<FreeText>,
    pub allergies: Option<FreeText>,
    pub conditions: Option<FreeText>,
}

impl CustomerDetails {
    /// The record's values as a list (absent optional fields omitted; tags always present).
    pub fn values(&self) -> Vec<FieldValue> {
        let mut v = vec![
            FieldValue::Name(self.name.clone()),
            FieldValue::Phone(self.phone.clone()),
            FieldValue::SourceChannel(self.source_channel),
            FieldValue::Tags(self.tags.clone()),
        ];
        v.extend(self.gender.map(FieldValue::Gender));
        v.extend(self.birthday.map(FieldValue::Birthday));
        v.extend(self.email.clone().map(FieldValue::Email));
        v.extend(self.id_number.clone().map(FieldValue::IdNumber));
        v.extend(self.address.clone().map(FieldValue::Address));
        v.extend(self.notes.clone().map(FieldValue::Notes));
        v.extend(self.allergies.clone().map(FieldValue::Allergies));
        v.extend(self.conditions.clone().map(FieldValue::Conditions));
        v
    }

    /// Whether the record already holds exactly this value.
    pub fn has_value(&self, value: &FieldValue) -> bool {
        self.values().iter().any(|v| v == value)
    }

    pub fn is_present(&self, field: CustomerField) -> bool {
        self.values().iter().any(|v| v.field() == field)
            && !(field == CustomerField::Tags && self.tags.is_empty())
    }

    pub fn apply(&mut self, value: FieldValue) {
        match value {
            FieldValue::Name(v) => self.name = v,
            FieldValue::Gender(v) => self.gender = Some(v),
            FieldValue::Birthday(v) => self.birthday = Some(v),
            FieldValue::Phone(v) => self.phone = v,
            FieldValue::Email(v) => self.email = Some(v),
            FieldValue::IdNumber(v) => self.id_number = Some(v),
            FieldValue::Address(v) => self.address = Some(v),
            FieldValue::SourceChannel(v) => self.source_channel = v,
            FieldValue::Tags(v) => self.tags = v,
            FieldValue::Notes(v) => self.notes = Some(v),
            FieldValue::Allergies(v) => self.allergies = Some(v),
            FieldValue::Conditions(v) => self.conditions = Some(v),
        }
    }

    pub fn clear(&mut self, field: CustomerField) {
        match field {
            CustomerField::Gender => self.gender = None,
            CustomerField::Birthday => self.birthday = None,
            CustomerField::Email => self.email = None,
            CustomerField::IdNumber => self.id_number = None,
            CustomerField::Address => self.address = None,
            CustomerField::Tags => self.tags.clear(),
            CustomerField::Notes => self.notes = None,
            CustomerField::Allergies => self.allergies = None,
            CustomerField::Conditions => self.conditions = None,
            CustomerField::Name | CustomerField::Phone | CustomerField::SourceChannel => {}
        }
    }

    /// Builds a record from the values of a registration (name, phone and source
    /// channel required).
    pub fn from_values(values: Vec<FieldValue>) -> Option<CustomerDetails> {
        let mut name = None;
        let mut phone = None;
        let mut source = None;
        let mut rest = Vec::new();
        for v in values {
            match v {
                FieldValue::Name(n) => name = Some(n),
                FieldValue::Phone(p) => phone = Some(p),
                FieldValue::SourceChannel(s) => source = Some(s),
                other => rest.push(other),
            }
        }
        let mut details = CustomerDetails {
            name: name?,
            phone: phone?,
            source_channel: source?,
            gender: None,
            birthday: None,
            email: None,
            id_number: None,
            address: None,
            tags: Vec::new(),
            notes: None,
            allergies: None,
            conditions: None,
        };
        for v in rest {
            details.apply(v);
        }
        Some(details)
    }
}
