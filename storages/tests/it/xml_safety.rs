//! Hostile XML from a server: entity expansion (billion laughs), external entities and
//! unbounded nesting are refused by the multistatus parsers, whole and streamed alike.

use davsync_storages::dav::proto::multistatus::{parse_multistatus, MultistatusStream};
use davsync_storages::dav::proto::report::{parse_items, ItemsStream};
use davsync_storages::ItemKind;
use url::Url;

fn base() -> Url {
    Url::parse("http://127.0.0.1/cal/").unwrap()
}

/// A multistatus of one item whose calendar-data is `data`, after `prolog`.
fn body(prolog: &str, data: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n{prolog}\n<d:multistatus xmlns:d=\"DAV:\" \
         xmlns:c=\"urn:ietf:params:xml:ns:caldav\"><d:response><d:href>/cal/a.ics</d:href>\
         <d:propstat><d:prop><d:getetag>\"1\"</d:getetag><c:calendar-data>{data}</c:calendar-data>\
         </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"
    )
}

fn billion_laughs() -> String {
    let mut dtd = String::from("<!DOCTYPE d:multistatus [\n<!ENTITY lol \"lol\">\n");
    for i in 1..=9 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    dtd.push(']');
    dtd.push('>');
    body(
        &dtd,
        "BEGIN:VCALENDAR\r\nSUMMARY:&lol9;\r\nEND:VCALENDAR\r\n",
    )
}

fn external_entity() -> String {
    body(
        "<!DOCTYPE d:multistatus [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>",
        "&xxe;",
    )
}

/// A parameter entity pointing at a port nothing listens on: loading it would be a request
/// the parser must never make.
fn external_parameter_entity() -> String {
    body(
        "<!DOCTYPE d:multistatus [<!ENTITY % remote SYSTEM \"http://127.0.0.1:9/evil.dtd\"> %remote;]>",
        "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
    )
}

fn deeply_nested(depth: usize) -> String {
    body(
        "",
        &format!("{}{}", "<x>".repeat(depth), "</x>".repeat(depth)),
    )
}

/// Every outcome of the two multistatus readers over `body`: whole, and streamed in chunks
/// of `chunk` bytes. Errors as their messages, successes as the calendar-data texts.
fn outcomes(body: &str, chunk: usize) -> Vec<Result<Vec<String>, String>> {
    let mut out = Vec::new();
    // parse_multistatus, whole and streamed.
    let mut texts = Vec::new();
    out.push(
        parse_multistatus(body.as_bytes(), &base(), |r| {
            for p in r.propstats {
                for prop in p.props {
                    texts.push(prop.text);
                }
            }
        })
        .map(|_| texts.clone())
        .map_err(|e| e.to_string()),
    );
    let mut texts = Vec::new();
    let mut stream = MultistatusStream::new(base());
    let mut res = Ok(());
    for piece in body.as_bytes().chunks(chunk) {
        res = stream.feed(piece, |r| {
            for p in r.propstats {
                for prop in p.props {
                    texts.push(prop.text);
                }
            }
        });
        if res.is_err() {
            break;
        }
    }
    out.push(match res {
        Err(e) => Err(e.to_string()),
        Ok(()) => stream
            .finish(|r| {
                for p in r.propstats {
                    for prop in p.props {
                        texts.push(prop.text);
                    }
                }
            })
            .map(|_| texts)
            .map_err(|e| e.to_string()),
    });
    // The items reader (calendar-query, multiget), whole and streamed.
    let mut items = Vec::new();
    out.push(
        parse_items(ItemKind::Calendar, body.as_bytes(), &base(), |i| {
            items.push(format!("{i:?}"))
        })
        .map(|_| items.clone())
        .map_err(|e| e.to_string()),
    );
    let mut items = Vec::new();
    let mut stream = ItemsStream::new(ItemKind::Calendar, base());
    let mut res = Ok(());
    for piece in body.as_bytes().chunks(chunk) {
        res = stream.feed(piece, |i| items.push(format!("{i:?}")));
        if res.is_err() {
            break;
        }
    }
    out.push(match res {
        Err(e) => Err(e.to_string()),
        Ok(()) => stream
            .finish(|i| items.push(format!("{i:?}")))
            .map(|_| items)
            .map_err(|e| e.to_string()),
    });
    out
}

#[track_caller]
fn assert_all_refused(body: &str, mentions: &str) {
    assert_refused_in_chunks(body, mentions, &[1, 7, 64, 4096, body.len()]);
}

#[track_caller]
fn assert_refused_in_chunks(body: &str, mentions: &str, chunks: &[usize]) {
    for &chunk in chunks {
        for (i, o) in outcomes(body, chunk).into_iter().enumerate() {
            match o {
                // The whole-body readers (0 and 2) name the culprit; a streamed reader may
                // give up earlier, on a prologue it has waited for long enough.
                Err(msg) => assert!(
                    i % 2 == 1 || msg.contains(mentions),
                    "reader {i}, chunks of {chunk}: {msg:?} does not mention {mentions:?}"
                ),
                Ok(texts) => panic!("reader {i}, chunks of {chunk}: accepted as {texts:?}"),
            }
        }
    }
}

#[test]
fn a_billion_laughs_body_is_refused_without_expanding_anything() {
    let body = billion_laughs();
    // Expanded, `&lol9;` would be 10^9 "lol"s: 3 GB.
    assert!(body.len() < 2000);
    assert_all_refused(&body, "lol9");
}

#[test]
fn an_external_entity_is_refused_and_never_read() {
    let body = external_entity();
    assert_all_refused(&body, "xxe");
    for chunk in [3, body.len()] {
        for o in outcomes(&body, chunk) {
            let shown = format!("{o:?}");
            assert!(!shown.contains("root:"), "{shown}");
        }
    }
}

#[test]
fn an_external_parameter_entity_is_never_fetched() {
    // The DTD is skipped unread: the body parses as if it had none (and no connection to
    // port 9 is attempted: the parsers do no I/O at all).
    let body = external_parameter_entity();
    for chunk in [1, 13, body.len()] {
        for (i, o) in outcomes(&body, chunk).into_iter().enumerate() {
            let texts = o.unwrap_or_else(|e| panic!("reader {i}, chunks of {chunk}: {e}"));
            assert_eq!(texts.len(), if i < 2 { 2 } else { 1 }, "{texts:?}");
        }
    }
}

#[test]
fn nesting_past_the_limit_is_refused_and_a_hundred_thousand_levels_do_not_overflow() {
    // Inside calendar-data (nested elements' text) and inside an unknown property (skipped).
    assert_all_refused(&deeply_nested(300), "nested deeper than 256");
    let skipped = format!(
        "<d:multistatus xmlns:d=\"DAV:\"><d:response><d:href>/cal/a.ics</d:href><d:propstat>\
         <d:prop><d:getetag>\"1\"</d:getetag><x:y xmlns:x=\"urn:x\">{}{}</x:y></d:prop>\
         <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>",
        "<x:z>".repeat(100_000),
        "</x:z>".repeat(100_000)
    );
    // Streamed in network-sized chunks: a body with no `</response>` is scanned again on
    // every chunk, which byte-sized chunks of a megabyte would make quadratic.
    assert_refused_in_chunks(&skipped, "nested deeper than 256", &[16_384, skipped.len()]);
}

#[test]
fn nesting_within_the_limit_still_parses() {
    let body = deeply_nested(200);
    for (i, o) in outcomes(&body, 50).into_iter().enumerate() {
        assert!(o.is_ok(), "reader {i}: {o:?}");
    }
}
