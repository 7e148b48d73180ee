use super::*;
use crate::dav::proto::xml::testutil::url;

/// Bodies with what a cut can fall into: entities, CDATA, a BOM, prefixes, a default
/// namespace, a 507, the sync-token at the end.
const STREAM_BODIES: &[&str] = &[
        "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:multistatus xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">\
         <d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop><d:getetag>\"1\"</d:getetag>\
         <c:calendar-data>BEGIN:VCALENDAR\r\nSUMMARY:Tom &amp; Jerry &lt;3\r\nEND:VCALENDAR\r\n</c:calendar-data>\
         </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>\n\
         <d:response><d:href>/cal/b%20c.ics</d:href><d:propstat><d:prop><d:getetag>\"2\"</d:getetag>\
         <c:calendar-data><![CDATA[BEGIN:VCALENDAR\r\nDESCRIPTION:not an end tag: </d:response>\r\nEND:VCALENDAR\r\n]]></c:calendar-data>\
         </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>\
         <d:response><d:href>/cal/gone.ics</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>\
         <d:response><d:href>/cal/</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status></d:response>\
         <d:sync-token>http://example.com/sync/9</d:sync-token></d:multistatus>",
        "<multistatus xmlns=\"DAV:\"><response><href>/ab/x.vcf</href><propstat><prop>\
         <getetag>\"x\"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response>\
         <response><href>/ab/y.vcf</href><propstat><prop><getetag>\"y\"</getetag></prop>\
         <status>HTTP/1.1 200 OK</status></propstat></response></multistatus>",
        "<D:multistatus xmlns:D=\"DAV:\"/>",
    ];

fn streamed(body: &[u8], cuts: &[usize]) -> Result<(Vec<Response>, MultistatusInfo), ProtoError> {
    let mut out = Vec::new();
    let mut stream = MultistatusStream::new(url("http://h/cal/"));
    let mut at = 0;
    for &cut in cuts {
        let cut = cut.clamp(at, body.len());
        stream.feed(&body[at..cut], |r| out.push(r))?;
        at = cut;
    }
    stream.feed(&body[at..], |r| out.push(r))?;
    let info = stream.finish(|r| out.push(r))?;
    Ok((out, info))
}

#[test]
fn a_streamed_body_gives_what_the_whole_body_gives_at_every_single_cut() {
    for body in STREAM_BODIES {
        let whole = parse_multistatus(body.as_bytes(), &url("http://h/cal/"), |_| {});
        let mut expected = Vec::new();
        let info = parse_multistatus(body.as_bytes(), &url("http://h/cal/"), |r| expected.push(r))
            .unwrap();
        assert!(whole.is_ok());
        for cut in 0..=body.len() {
            let (got, got_info) = streamed(body.as_bytes(), &[cut]).unwrap();
            assert_eq!(got, expected, "cut at {cut}");
            assert_eq!(got_info, info, "cut at {cut}");
        }
    }
}

#[test]
fn a_stream_hands_out_responses_before_the_body_ends() {
    let body = STREAM_BODIES[1].as_bytes();
    let second = body.windows(10).position(|w| w == b"<response>").unwrap() + 1;
    let second = second
        + body[second..]
            .windows(10)
            .position(|w| w == b"<response>")
            .unwrap();
    let mut stream = MultistatusStream::new(url("http://h/ab/"));
    let mut seen = Vec::new();
    stream
        .feed(&body[..second + 5], |r| seen.push(r.href))
        .unwrap();
    assert_eq!(seen, ["/ab/x.vcf"]);
    assert!(
        stream.rest.len() < 20,
        "handled bytes are dropped: {}",
        stream.rest.len()
    );
}

#[test]
fn a_streamed_body_cut_short_or_broken_fails_like_the_whole_one() {
    let body = STREAM_BODIES[0].as_bytes();
    let short = &body[..body.len() - 30];
    let whole = parse_multistatus(short, &url("http://h/cal/"), |_| {}).unwrap_err();
    let got = streamed(short, &[100, 400]).unwrap_err();
    assert_eq!(got, whole);
    let html = b"<!DOCTYPE html><html><body>Login</body></html>";
    assert_eq!(streamed(html, &[5]).unwrap_err(), ProtoError::Html);
}

/// Found by fuzzing (tests/fuzz/regressions/multistatus/stream-says-html): a beginning of
/// more than 512 bytes cut inside the prolog was judged on its own, as an HTML page
/// (`<html` inside an unfinished processing instruction) or as an empty body (only
/// whitespace so far), while the whole body is a multistatus.
#[test]
fn a_long_prolog_cut_short_waits_for_the_rest_of_the_body() {
    let root = "<d:multistatus xmlns:d=\"DAV:\"><d:sync-token>t</d:sync-token></d:multistatus>";
    let pi = format!(
        "<?note <html><body>{}</body></html> ?>{root}",
        "x".repeat(600)
    );
    let spaces = format!("{}{root}", " ".repeat(600));
    for body in [pi, spaces] {
        let whole = parse_multistatus(body.as_bytes(), &url("http://h/cal/"), |_| {}).unwrap();
        assert_eq!(whole.sync_token.as_deref(), Some("t"));
        for cut in [520, 560, 600] {
            let (_, info) = streamed(body.as_bytes(), &[cut]).unwrap();
            assert_eq!(info, whole, "cut at {cut}");
        }
    }
}

/// Found by fuzzing (tests/fuzz/regressions/multistatus/garbage-prolog-stream-malformed): a
/// beginning of more than 512 bytes ending in `<!` (or `<!-`, `<![CD`, `<!DOC`) was called
/// malformed, because the XML reader cannot tell which markup begins; the whole body goes on
/// into a comment, a DOCTYPE or a CDATA section and is read.
#[test]
fn a_long_prolog_cut_inside_a_bang_markup_waits_for_the_rest_of_the_body() {
    let root = "<d:multistatus xmlns:d=\"DAV:\"><d:sync-token>t</d:sync-token></d:multistatus>";
    let comment = format!("<?xml version=\"1.0\"?><!-- {} -->", "x".repeat(600));
    for next in ["<!-- second -->", "<!DOCTYPE multistatus>"] {
        let body = format!("{comment}{next}{root}");
        let whole = parse_multistatus(body.as_bytes(), &url("http://h/cal/"), |_| {}).unwrap();
        assert_eq!(whole.sync_token.as_deref(), Some("t"));
        for len in 1..=5 {
            let cut = comment.len() + len;
            let (_, info) = streamed(body.as_bytes(), &[cut]).unwrap();
            assert_eq!(info, whole, "{next} cut after {len} bytes");
        }
    }
    // Markup that no more bytes can make valid is still an error at once.
    let bad = format!("{comment}<!x>{root}");
    let whole = parse_multistatus(bad.as_bytes(), &url("http://h/cal/"), |_| {}).unwrap_err();
    assert!(matches!(whole, ProtoError::Malformed { .. }), "{whole:?}");
    let mut stream = MultistatusStream::new(url("http://h/cal/"));
    let early = stream.feed(&bad.as_bytes()[..comment.len() + 4], |_| {});
    assert!(
        matches!(early, Err(ProtoError::Malformed { .. })),
        "{early:?}"
    );
}

proptest::proptest! {
    #[test]
    fn a_streamed_body_gives_what_the_whole_body_gives_at_any_cuts(
        which in 0..STREAM_BODIES.len(),
        mut cuts in proptest::collection::vec(0usize..1200, 0..12),
    ) {
        let body = STREAM_BODIES[which].as_bytes();
        cuts.sort_unstable();
        let mut expected = Vec::new();
        let info = parse_multistatus(body, &url("http://h/cal/"), |r| expected.push(r)).unwrap();
        let (got, got_info) = streamed(body, &cuts).unwrap();
        proptest::prop_assert_eq!(got, expected);
        proptest::prop_assert_eq!(got_info, info);
    }
}

fn parse(body: &str) -> Result<(Vec<Response>, MultistatusInfo), ProtoError> {
    let mut out = Vec::new();
    let info = parse_multistatus(
        body.as_bytes(),
        &url("https://dav.example.com/cal/work/"),
        |r| out.push(r),
    )?;
    Ok((out, info))
}

fn etag_of(r: &Response) -> Option<&str> {
    r.prop_text(names::GETETAG)
}

#[test]
fn prefixed_default_and_odd_prefixes_read_the_same() {
    let bodies = [
        r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal/work/a.ics</d:href>
               <d:propstat><d:prop><d:getetag>"1"</d:getetag></d:prop>
               <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#,
        r#"<?xml version="1.0" encoding="utf-8"?>
               <multistatus xmlns="DAV:"><response><href>/cal/work/a.ics</href>
               <propstat><prop><getetag>"1"</getetag></prop>
               <status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"#,
        r#"<x0:multistatus xmlns:x0="DAV:"><x0:response><x0:href>/cal/work/a.ics</x0:href>
               <x0:propstat><x0:prop><x0:getetag>"1"</x0:getetag></x0:prop>
               <x0:status>HTTP/1.1 200 OK</x0:status></x0:propstat></x0:response></x0:multistatus>"#,
        // Namespace redeclared on inner elements, with another prefix bound to DAV:.
        r#"<a:multistatus xmlns:a="DAV:"><response xmlns="DAV:"><href>/cal/work/a.ics</href>
               <b:propstat xmlns:b="DAV:"><b:prop><getetag>"1"</getetag></b:prop>
               <a:status>HTTP/1.1 200 OK</a:status></b:propstat></response></a:multistatus>"#,
    ];
    for body in bodies {
        let (responses, info) = parse(body).unwrap();
        assert_eq!(responses.len(), 1, "{body}");
        assert_eq!(responses[0].href, "/cal/work/a.ics");
        assert_eq!(etag_of(&responses[0]), Some("\"1\""), "{body}");
        assert_eq!(info.responses, 1);
        assert!(!info.truncated);
    }
}

#[test]
fn elements_of_other_namespaces_are_not_mistaken_for_dav_ones() {
    let body = r#"<d:multistatus xmlns:d="DAV:" xmlns:x="http://example.com/ns">
            <d:response><d:href>/cal/work/a.ics</d:href>
            <d:propstat><d:prop><x:getetag>"fake"</x:getetag></d:prop>
            <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
            <x:response><d:href>/cal/work/b.ics</d:href></x:response>
            </d:multistatus>"#;
    let (responses, _) = parse(body).unwrap();
    assert_eq!(responses.len(), 1);
    assert_eq!(etag_of(&responses[0]), None);
    assert_eq!(
        responses[0].propstats[0].props[0].ns,
        "http://example.com/ns"
    );
}

#[test]
fn mixed_200_and_404_propstats_are_kept_apart() {
    let body = r#"<d:multistatus xmlns:d="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav">
            <d:response><d:href>/cal/work/a.ics</d:href>
            <d:propstat><d:prop><d:getetag>"1"</d:getetag></d:prop>
              <d:status>HTTP/1.1 200 OK</d:status></d:propstat>
            <d:propstat><d:prop><d:getcontenttype/><cal:calendar-data/></d:prop>
              <d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>
            </d:response></d:multistatus>"#;
    let (mut responses, _) = parse(body).unwrap();
    let r = &mut responses[0];
    assert_eq!(etag_of(r), Some("\"1\""));
    assert!(r.prop(names::GETCONTENTTYPE).is_none());
    assert_eq!(r.prop_status(names::GETCONTENTTYPE), Some(404));
    assert_eq!(r.prop_status(names::CALENDAR_DATA), Some(404));
    assert_eq!(r.prop_status(names::DISPLAYNAME), None);
    assert!(r.take_prop(names::CALENDAR_DATA).is_none());
    assert!(r.take_prop(names::GETETAG).is_some());
    assert!(r.prop(names::GETETAG).is_none());
}

#[test]
fn response_level_status_and_several_hrefs() {
    let body = r#"<D:multistatus xmlns:D="DAV:">
            <D:response><D:href>/cal/work/gone.ics</D:href>
              <D:href>https://dav.example.com/cal/work/also%20gone.ics</D:href>
              <D:status>HTTP/1.1 404 Not Found</D:status></D:response>
            </D:multistatus>"#;
    let (responses, info) = parse(body).unwrap();
    let hrefs: Vec<&str> = responses.iter().map(|r| r.href.as_str()).collect();
    assert_eq!(hrefs, ["/cal/work/gone.ics", "/cal/work/also%20gone.ics"]);
    assert!(responses.iter().all(|r| r.status == Some(404)));
    assert!(responses.iter().all(|r| !r.resource_ok()));
    assert_eq!(info.responses, 2);
}

#[test]
fn relative_and_absolute_hrefs_are_normalized() {
    let body = r#"<d:multistatus xmlns:d="DAV:">
            <d:response><d:href>a%20b.ics</d:href><d:status>HTTP/1.1 200 OK</d:status></d:response>
            <d:response><d:href>https://dav.example.com/cal/work/a b.ics</d:href>
              <d:status>HTTP/1.1 200 OK</d:status></d:response>
            <d:response><d:href> /cal/work/x@y.ics </d:href><d:status>HTTP/1.1 200 OK</d:status></d:response>
            </d:multistatus>"#;
    let (responses, _) = parse(body).unwrap();
    assert_eq!(responses[0].href, "/cal/work/a%20b.ics");
    assert_eq!(responses[0].href, responses[1].href);
    assert_eq!(responses[2].href, "/cal/work/x@y.ics");
}

#[test]
fn status_507_marks_truncation_and_sync_token_is_read() {
    let body = r#"<multistatus xmlns="DAV:">
            <response><href>/cal/work/a.ics</href><propstat><prop><getetag>"1"</getetag></prop>
              <status>HTTP/1.1 200 OK</status></propstat></response>
            <response><href>/cal/work/</href>
              <status>HTTP/1.1 507 Insufficient Storage</status>
              <error><number-of-matches-within-limits/></error></response>
            <sync-token> http://example.com/sync/12 </sync-token>
            </multistatus>"#;
    let (responses, info) = parse(body).unwrap();
    assert_eq!(responses.len(), 1);
    assert!(info.truncated);
    assert_eq!(
        info.sync_token.as_deref(),
        Some("http://example.com/sync/12")
    );
}

#[test]
fn error_children_are_reported() {
    let body = r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal/work/a.ics</d:href>
            <d:status>HTTP/1.1 403 Forbidden</d:status>
            <d:error><d:need-privileges><d:resource/></d:need-privileges></d:error>
            </d:response></d:multistatus>"#;
    let (responses, _) = parse(body).unwrap();
    assert!(responses[0].has_error(names::Name {
        ns: names::NS_DAV,
        local: "need-privileges"
    }));
    assert_eq!(responses[0].errors.len(), 1);
}

#[test]
fn a_byte_order_mark_is_ignored() {
    let body = "\u{feff}<?xml version=\"1.0\"?><d:multistatus xmlns:d=\"DAV:\">\
            <d:response><d:href>/a</d:href><d:status>HTTP/1.1 200 OK</d:status></d:response>\
            </d:multistatus>";
    assert_eq!(parse(body).unwrap().0.len(), 1);
}

#[test]
fn five_thousand_responses_stream_one_by_one() {
    let mut body =
        String::from(r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">"#);
    for i in 0..5000 {
        body.push_str(&format!(
                "<d:response><d:href>/cal/work/{i}.ics</d:href><d:propstat><d:prop>\
                 <d:getetag>\"{i}\"</d:getetag><c:calendar-data>BEGIN:VCALENDAR&#13;\nUID:{i}&#13;\n\
                 END:VCALENDAR&#13;\n</c:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status>\
                 </d:propstat></d:response>"
            ));
    }
    body.push_str("</d:multistatus>");
    let mut seen = 0usize;
    let info = parse_multistatus(
        body.as_bytes(),
        &url("https://dav.example.com/cal/work/"),
        |mut r| {
            let data = r.take_prop(names::CALENDAR_DATA).unwrap().text;
            assert_eq!(r.href, format!("/cal/work/{seen}.ics"));
            assert!(data.contains(&format!("UID:{seen}\r\n")));
            seen += 1;
        },
    )
    .unwrap();
    assert_eq!((seen, info.responses), (5000, 5000));
}

#[test]
fn an_empty_multistatus_has_no_responses() {
    let (responses, info) = parse(r#"<d:multistatus xmlns:d="DAV:"/>"#).unwrap();
    assert!(responses.is_empty());
    assert_eq!(info, MultistatusInfo::default());
}

#[test]
fn a_truncated_body_fails_without_partial_success() {
    let full = r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal/work/a.ics</d:href>
            <d:propstat><d:prop><d:getetag>"1"</d:getetag></d:prop>
            <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#;
    // Every proper prefix that starts the root is truncated (or, cut inside the root's own
    // start tag, not XML at all); none parses as success.
    for cut in 1..full.len() {
        let Some(prefix) = full.get(..cut) else {
            continue;
        };
        match parse(prefix) {
            Err(ProtoError::Truncated { .. }) | Err(ProtoError::NotXml { .. }) => {}
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    let err = parse(&full[..full.len() - 30]).unwrap_err();
    assert_eq!(
        err,
        ProtoError::Truncated {
            inside: "propstat".into()
        }
    );
}

#[test]
fn missing_href_or_propstat_status_is_an_error() {
    let no_href = r#"<d:multistatus xmlns:d="DAV:"><d:response>
            <d:status>HTTP/1.1 200 OK</d:status></d:response></d:multistatus>"#;
    assert_eq!(
        parse(no_href).unwrap_err(),
        ProtoError::Missing {
            element: "href",
            parent: "response"
        }
    );
    let no_status = r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/a</d:href>
            <d:propstat><d:prop><d:getetag>"1"</d:getetag></d:prop></d:propstat>
            </d:response></d:multistatus>"#;
    assert_eq!(
        parse(no_status).unwrap_err(),
        ProtoError::Missing {
            element: "status",
            parent: "propstat"
        }
    );
}

#[test]
fn malformed_xml_and_bad_status_lines_are_errors() {
    let mismatched = r#"<d:multistatus xmlns:d="DAV:"><d:response></d:href></d:multistatus>"#;
    assert!(matches!(
        parse(mismatched).unwrap_err(),
        ProtoError::Malformed { .. }
    ));
    let unknown_prefix = r#"<d:multistatus xmlns:d="DAV:"><q:response/></d:multistatus>"#;
    assert!(matches!(
        parse(unknown_prefix).unwrap_err(),
        ProtoError::Malformed { .. }
    ));
    let bad_status = r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/a</d:href>
            <d:status>OK</d:status></d:response></d:multistatus>"#;
    assert_eq!(
        parse(bad_status).unwrap_err(),
        ProtoError::InvalidStatus { line: "OK".into() }
    );
}

#[test]
fn an_html_page_is_not_a_multistatus() {
    let body = "<!DOCTYPE html>\n<html lang=\"en\"><head><title>Sign in</title></head>\
                    <body><form></form></body></html>";
    assert_eq!(parse(body).unwrap_err(), ProtoError::Html);
}

#[test]
fn property_values_keep_hrefs_children_and_attributes() {
    let body = r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
            <d:response><d:href>/cal/work/</d:href><d:propstat><d:prop>
            <d:resourcetype><d:collection/><c:calendar/></d:resourcetype>
            <c:supported-calendar-component-set><c:comp name="VEVENT"/><c:comp name="VTODO"/>
            </c:supported-calendar-component-set>
            <d:current-user-principal><d:href>../../principals/alice/</d:href></d:current-user-principal>
            </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
            </d:multistatus>"#;
    let (responses, _) = parse(body).unwrap();
    let r = &responses[0];
    let rt = r.prop(names::RESOURCETYPE).unwrap();
    assert!(rt.has_child(names::COLLECTION) && rt.has_child(names::CALENDAR));
    assert!(!rt.has_child(names::ADDRESSBOOK));
    let comps: Vec<_> = r
        .prop(names::SUPPORTED_CALENDAR_COMPONENT_SET)
        .unwrap()
        .children
        .iter()
        .map(|c| c.name_attr.clone().unwrap())
        .collect();
    assert_eq!(comps, ["VEVENT", "VTODO"]);
    assert_eq!(
        r.prop(names::CURRENT_USER_PRINCIPAL).unwrap().hrefs,
        ["/principals/alice/"]
    );
}

#[test]
fn xandikos_shape_with_response_status_next_to_propstats() {
    // Xandikos answers with ElementTree's generated prefixes and a response-level status
    // beside the propstats.
    let body = "<ns0:multistatus xmlns:ns0=\"DAV:\"><ns0:response>\
            <ns0:href>/cal/work/a.ics</ns0:href><ns0:status>HTTP/1.1 200 OK</ns0:status>\
            <ns0:propstat><ns0:status>HTTP/1.1 200 OK</ns0:status>\
            <ns0:prop><ns0:getetag>\"x1\"</ns0:getetag></ns0:prop></ns0:propstat>\
            <ns0:propstat><ns0:status>HTTP/1.1 404 Not Found</ns0:status>\
            <ns0:prop><ns0:getcontenttype /></ns0:prop></ns0:propstat>\
            </ns0:response></ns0:multistatus>";
    let (responses, _) = parse(body).unwrap();
    assert!(responses[0].resource_ok());
    assert_eq!(etag_of(&responses[0]), Some("\"x1\""));
}

const SAMPLE: &str = r#"<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:response><d:href>/cal/work/a.ics</d:href><d:propstat><d:prop><d:getetag>"1"</d:getetag><c:calendar-data><![CDATA[BEGIN:VCALENDAR]]>&#13;
</c:calendar-data><d:resourcetype><d:collection/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response><d:response><d:href>b.ics</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response><d:sync-token>t</d:sync-token></d:multistatus>"#;

proptest::proptest! {
    /// Whatever a server or a broken connection delivers, the parser answers with a
    /// result or an error, never a panic.
    #[test]
    fn damaged_bodies_never_panic(
        cut in 0..SAMPLE.len(),
        pos in 0..SAMPLE.len(),
        byte in proptest::prelude::any::<u8>(),
    ) {
        let mut body = SAMPLE.as_bytes().to_vec();
        body[pos] = byte;
        let _ = parse(&String::from_utf8_lossy(&body));
        let _ = parse(&String::from_utf8_lossy(&body[..cut]));
        let _ = parse_multistatus(&body, &url("https://x.example/cal/work/"), |_| {});
    }
}
