//! A JSON path (`$.routes[0].strategy.kind`) for validation messages, built on the walker's
//! stack and rendered only when a problem is reported.

/// One step of a [`Path`].
#[derive(Clone, Copy)]
pub(super) enum Seg<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

/// A JSON path (`$.routes[0].strategy.kind`) as a list of borrowed segments on the walker's
/// stack: a child path costs nothing until an error renders it.
#[derive(Clone, Copy)]
pub(super) struct Path<'a> {
    pub(super) up: Option<&'a Path<'a>>,
    pub(super) seg: Seg<'a>,
}

pub(super) const ROOT: Path<'static> = Path {
    up: None,
    seg: Seg::Root,
};

impl Path<'_> {
    pub(super) fn key<'b>(&'b self, key: &'b str) -> Path<'b> {
        Path {
            up: Some(self),
            seg: Seg::Key(key),
        }
    }

    pub(super) fn at(&self, i: usize) -> Path<'_> {
        Path {
            up: Some(self),
            seg: Seg::Index(i),
        }
    }

    pub(super) fn render(&self) -> String {
        let mut s = self.up.map(Path::render).unwrap_or_default();
        match self.seg {
            Seg::Root => s.push('$'),
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
        s
    }
}
