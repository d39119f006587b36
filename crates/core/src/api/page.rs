//! Page-number pagination: `page_number` (zero-based) and `page_size` (1–100,
//! default 20) in, the page envelope out.

use kipp_derive::MapDeserialize;
use serde::Serialize;

use crate::validate::Validator;

/// Default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// Largest page size.
pub const MAX_PAGE_SIZE: u32 = 100;

/// Which page to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct PageRequest {
    /// Zero-based page index.
    pub page_number: u32,
    /// Items per page, 1–100.
    pub page_size: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { page_number: 0, page_size: DEFAULT_PAGE_SIZE }
    }
}

impl PageRequest {
    /// Query pairs (only the non-default ones).
    #[must_use]
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if self.page_number != 0 {
            q.push(("page_number", self.page_number.to_string()));
        }
        if self.page_size != DEFAULT_PAGE_SIZE {
            q.push(("page_size", self.page_size.to_string()));
        }
        q
    }

    /// Reads `page_number`/`page_size` from one query pair, if it is one of them.
    /// Returns true when the pair was consumed.
    pub fn take_pair(&mut self, v: &mut Validator, key: &str, value: &str) -> bool {
        match key {
            "page_number" => {
                match value.parse::<u32>().ok().filter(|n| i32::try_from(*n).is_ok()) {
                    Some(n) => self.page_number = n,
                    None => v.push("page_number", "out_of_range", "must be an integer ≥ 0"),
                }
                true
            }
            "page_size" => {
                match value.parse::<u32>().ok().filter(|n| (1..=MAX_PAGE_SIZE).contains(n)) {
                    Some(n) => self.page_size = n,
                    None => v.push("page_size", "out_of_range", "must be an integer from 1 to 100"),
                }
                true
            }
            _ => false,
        }
    }

    /// Checks the bounds (for values built in code rather than parsed).
    pub fn validate(&self, v: &mut Validator) {
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            v.push("page_size", "out_of_range", "must be an integer from 1 to 100");
        }
        if i32::try_from(self.page_number).is_err() {
            v.push("page_number", "out_of_range", "must be an integer ≥ 0");
        }
    }
}

/// The page envelope of every list operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, MapDeserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub content: Vec<T>,
    /// Items across all pages.
    pub total_elements: u64,
    /// Number of pages.
    pub total_pages: u32,
    /// This page's index.
    pub page_number: u32,
    /// Requested page size.
    pub page_size: u32,
    /// True on the first page.
    pub first: bool,
    /// True on the last page.
    pub last: bool,
}

impl<T> Page<T> {
    /// Cuts one page out of all matching items.
    #[must_use]
    pub fn slice(all: Vec<T>, req: PageRequest) -> Self {
        let size = req.page_size.max(1) as usize;
        let total = all.len();
        let total_pages = total.div_ceil(size);
        let start = (req.page_number as usize).saturating_mul(size);
        let content: Vec<T> = all.into_iter().skip(start).take(size).collect();
        Self {
            content,
            total_elements: total as u64,
            total_pages: u32::try_from(total_pages).unwrap_or(u32::MAX),
            page_number: req.page_number,
            page_size: req.page_size,
            first: req.page_number == 0,
            last: (req.page_number as usize).saturating_add(1) >= total_pages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices() {
        let p = Page::slice((0..45).collect(), PageRequest { page_number: 2, page_size: 20 });
        assert_eq!(p.content, (40..45).collect::<Vec<_>>());
        assert_eq!((p.total_pages, p.first, p.last), (3, false, true));
        let empty = Page::<u8>::slice(vec![], PageRequest::default());
        assert!(empty.first && empty.last && empty.total_pages == 0);
        let far = Page::slice((0..3).collect::<Vec<u8>>(), PageRequest { page_number: u32::MAX, page_size: 100 });
        assert!(far.content.is_empty());
    }

    #[test]
    fn parses_bounds() {
        let mut v = Validator::new();
        let mut p = PageRequest::default();
        assert!(p.take_pair(&mut v, "page_size", "100"));
        p.take_pair(&mut v, "page_size", "101");
        p.take_pair(&mut v, "page_number", "-1");
        assert_eq!(p.page_size, 100);
        assert_eq!(v.into_errors().len(), 2);
    }
}
