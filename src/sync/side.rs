//! The two sides of a pair. Everything the engine keeps once per side lives in a
//! [`BySide`], indexed by [`Side`], so no code spells out `match side { A => .., B => .. }` to
//! pick a field.

use std::ops::{Index, IndexMut};

/// Which storage of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    A,
    B,
}

impl Side {
    /// Both sides, a first.
    pub const BOTH: [Side; 2] = [Side::A, Side::B];

    /// The side that is not this one.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// One value per side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BySide<T> {
    pub a: T,
    pub b: T,
}

impl<T> BySide<T> {
    pub fn new(a: T, b: T) -> Self {
        BySide { a, b }
    }

    /// A value for each side, made by `f`.
    pub fn from_fn(mut f: impl FnMut(Side) -> T) -> Self {
        let a = f(Side::A);
        let b = f(Side::B);
        BySide { a, b }
    }

    pub fn as_ref(&self) -> BySide<&T> {
        BySide {
            a: &self.a,
            b: &self.b,
        }
    }

    pub fn map<U>(self, mut f: impl FnMut(Side, T) -> U) -> BySide<U> {
        let a = f(Side::A, self.a);
        let b = f(Side::B, self.b);
        BySide { a, b }
    }

    /// (side, value) for a, then b.
    pub fn iter(&self) -> impl Iterator<Item = (Side, &T)> {
        [(Side::A, &self.a), (Side::B, &self.b)].into_iter()
    }

    pub fn into_tuple(self) -> (T, T) {
        (self.a, self.b)
    }
}

impl BySide<bool> {
    /// True when it holds on both sides.
    pub fn both(&self) -> bool {
        self.a && self.b
    }
}

impl<T> Index<Side> for BySide<T> {
    type Output = T;
    fn index(&self, side: Side) -> &T {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }
}

impl<T> IndexMut<Side> for BySide<T> {
    fn index_mut(&mut self, side: Side) -> &mut T {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexing_by_side_reaches_that_sides_value() {
        let mut v = BySide::new(1, 2);
        v[Side::B] += 10;
        assert_eq!((v[Side::A], v[Side::B]), (1, 12));
        assert_eq!(Side::A.other(), Side::B);
        assert_eq!(Side::B.other(), Side::A);
    }
}
