//! What differs between two versions of an item, as `davsync resolve` shows it: a unified line
//! diff of their normalized texts (unfolded, sorted, the ignored properties left out), so that
//! refolding, reordering or a new DTSTAMP never show up as a difference.

use davsync_storages::Item;

/// The unified diff from `a` to `b`, headed `--- <a_label>` / `+++ <b_label>`; empty when the
/// two compare equal.
pub fn item_diff(a: &Item, a_label: &str, b: &Item, b_label: &str) -> String {
    let (ta, tb) = (a.normalized_text(), b.normalized_text());
    if ta == tb {
        return String::new();
    }
    similar::TextDiff::from_lines(&ta, &tb)
        .unified_diff()
        .context_radius(3)
        .header(a_label, b_label)
        .to_string()
}

#[cfg(test)]
mod tests {
    use davsync_storages::{Item, ItemKind};

    use super::item_diff;

    fn cal(text: &str) -> Item {
        Item::parse(ItemKind::Calendar, text.as_bytes().to_vec()).unwrap()
    }

    const A: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Lunch with Ana and Bo at the usual place near the station, bring the \r\n tickets\r\nLOCATION:Cafe\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn only_what_a_person_changed_shows() {
        let b = "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nLOCATION:Bistro\nSUMMARY:Lunch with Ana and Bo at the usual place near the station, bring the tickets\nUID:1\nDTSTAMP:20270101T000000Z\nEND:VEVENT\nEND:VCALENDAR\n";
        let diff = item_diff(&cal(A), "cal_local/work", &cal(b), "cal_remote/work");
        assert_eq!(
            diff,
            "--- cal_local/work\n+++ cal_remote/work\n@@ -1,7 +1,7 @@\n BEGIN:VCALENDAR\n   VERSION:2.0\n   BEGIN:VEVENT\n-    LOCATION:Cafe\n+    LOCATION:Bistro\n     SUMMARY:Lunch with Ana and Bo at the usual place near the station, bring the tickets\n     UID:1\n   END:VEVENT\n"
        );
    }

    #[test]
    fn versions_that_compare_equal_have_no_diff() {
        let refolded = A
            .replace("the \r\n tickets", "the tickets")
            .replace("\r\n", "\n");
        assert_eq!(item_diff(&cal(A), "a", &cal(&refolded), "b"), "");
    }
}
