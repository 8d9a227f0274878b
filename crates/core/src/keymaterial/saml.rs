//! SAML 2.0 identity-provider metadata, as CreateSAMLProvider takes it: an `EntityDescriptor`
//! with an `IDPSSODescriptor` that carries at least one signing certificate (without one no
//! assertion could be verified). DTDs are refused, so no entity can expand.

use gatehouse_protocol::codec::base64_decode;
use gatehouse_types::parse_iso8601;

use super::x509::parse_certificate;

const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// What Gatehouse keeps from a metadata document besides its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlMetadata {
    pub entity_id: String,
    /// The document's `validUntil`, as Unix milliseconds.
    pub valid_until: Option<i64>,
    pub signing_certificates: usize,
}

/// Why a document was refused, in words for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidMetadata(pub &'static str);

pub fn parse_metadata(document: &str) -> Result<SamlMetadata, InvalidMetadata> {
    let doc = roxmltree::Document::parse(document)
        .map_err(|_| InvalidMetadata("the document is not well-formed XML"))?;
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(METADATA_NS)
        || root.tag_name().name() != "EntityDescriptor"
    {
        return Err(InvalidMetadata(
            "the root element is not a SAML 2.0 EntityDescriptor",
        ));
    }
    let entity_id = root
        .attribute("entityID")
        .filter(|id| !id.is_empty())
        .ok_or(InvalidMetadata("the EntityDescriptor has no entityID"))?
        .to_string();
    let valid_until = match root.attribute("validUntil") {
        Some(text) => Some(
            parse_iso8601(text)
                .ok_or(InvalidMetadata("validUntil is not a date and time"))?
                .unix_millis,
        ),
        None => None,
    };
    let idp = root
        .children()
        .find(|n| n.has_tag_name((METADATA_NS, "IDPSSODescriptor")))
        .ok_or(InvalidMetadata("there is no IDPSSODescriptor"))?;
    let mut signing_certificates = 0;
    for key in idp
        .children()
        .filter(|n| n.has_tag_name((METADATA_NS, "KeyDescriptor")))
        .filter(|n| n.attribute("use").is_none_or(|u| u == "signing"))
    {
        for cert in key
            .descendants()
            .filter(|n| n.has_tag_name((DSIG_NS, "X509Certificate")))
        {
            let text: String = cert
                .text()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let der = base64_decode(&text)
                .ok_or(InvalidMetadata("a signing certificate is not base 64"))?;
            parse_certificate(&der)
                .map_err(|_| InvalidMetadata("a signing certificate is malformed"))?;
            signing_certificates += 1;
        }
    }
    if signing_certificates == 0 {
        return Err(InvalidMetadata(
            "the IDPSSODescriptor has no signing certificate",
        ));
    }
    Ok(SamlMetadata {
        entity_id,
        valid_until,
        signing_certificates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(attrs: &str, body: &str) -> String {
        let cert = include_str!("testdata/rsa2048.crt")
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>();
        let body = body.replace("CERT", &cert);
        format!(
            r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.com/saml" {attrs}>
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{body}
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
        )
    }

    const SIGNING: &str = r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>CERT</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#;

    #[test]
    fn reads_an_identity_provider() {
        let m = parse_metadata(&metadata(r#"validUntil="2030-01-02T03:04:05Z""#, SIGNING)).unwrap();
        assert_eq!(m.entity_id, "https://idp.example.com/saml");
        assert_eq!(m.signing_certificates, 1);
        assert_eq!(m.valid_until, Some(1_893_553_445_000));
    }

    #[test]
    fn refuses_what_could_not_verify_an_assertion() {
        assert!(parse_metadata(&metadata("", "")).is_err());
        let broken = SIGNING.replace("CERT", "AAAA");
        assert!(parse_metadata(&metadata("", &broken)).is_err());
        assert!(parse_metadata("<EntityDescriptor/>").is_err());
        assert!(parse_metadata("not xml").is_err());
        let dtd = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>"#;
        assert!(parse_metadata(dtd).is_err());
    }
}
