//! A small, panic-free reader over simd-json's tape (`Vec<Node>`): every access is
//! bounds-checked, so a tape is walked without allocating and without trusting counts.

use simd_json::{Node, StaticNode};

/// Number of tape nodes a value occupies, its header included.
#[inline]
fn span(n: &Node<'_>) -> usize {
    match n {
        Node::Object { count, .. } | Node::Array { count, .. } => count.saturating_add(1),
        _ => 1,
    }
}

/// One JSON value on the tape: the nodes it spans (never empty; the first is its
/// header). One slice, so `Option<Val>` is two words.
#[derive(Clone, Copy, Debug)]
pub struct Val<'t, 'a> {
    body: &'t [Node<'a>],
}

const NULL: Node<'static> = Node::Static(StaticNode::Null);

impl<'t, 'a> Val<'t, 'a> {
    /// The document's root value.
    pub fn root(tape: &'t [Node<'a>]) -> Option<Self> {
        Self::at(tape)
    }

    /// The value whose first node starts `nodes`.
    fn at(nodes: &'t [Node<'a>]) -> Option<Self> {
        let body = nodes.get(..span(nodes.first()?))?;
        Some(Val { body })
    }

    /// The header node.
    #[inline]
    fn node(&self) -> Node<'a> {
        *self.body.first().unwrap_or(&NULL)
    }

    /// True for JSON `null` (and for a missing value read as one).
    #[inline]
    pub fn is_null(&self) -> bool {
        matches!(self.node(), Node::Static(StaticNode::Null))
    }

    /// The string, if this is one.
    #[inline]
    pub fn as_str(&self) -> Option<&'a str> {
        match self.node() {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    /// A non-negative integer.
    #[inline]
    pub fn as_u64(&self) -> Option<u64> {
        match self.node() {
            Node::Static(StaticNode::U64(v)) => Some(v),
            Node::Static(StaticNode::I64(v)) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// A boolean.
    #[inline]
    pub fn as_bool(&self) -> Option<bool> {
        match self.node() {
            Node::Static(StaticNode::Bool(v)) => Some(v),
            _ => None,
        }
    }

    /// A signed integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self.node() {
            Node::Static(StaticNode::I64(v)) => Some(v),
            Node::Static(StaticNode::U64(v)) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Number of elements, if this is an array.
    #[inline]
    pub fn array_len(&self) -> Option<usize> {
        match self.node() {
            Node::Array { len, .. } => Some(len),
            _ => None,
        }
    }

    /// The object's members, if this is an object.
    #[inline]
    pub fn members(&self) -> Option<Members<'t, 'a>> {
        match self.node() {
            Node::Object { len, .. } => Some(Members {
                rest: self.body.get(1..).unwrap_or(&[]),
                left: len,
            }),
            _ => None,
        }
    }

    /// The array's elements, if this is an array.
    #[inline]
    pub fn elements(&self) -> Option<Elements<'t, 'a>> {
        match self.node() {
            Node::Array { len, .. } => Some(Elements {
                rest: self.body.get(1..).unwrap_or(&[]),
                left: len,
            }),
            _ => None,
        }
    }

    /// The member `key` of an object (first match).
    pub fn get(&self, key: &str) -> Option<Val<'t, 'a>> {
        self.members()?.find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// A short description for error messages (allocates; error paths only).
    pub fn describe(&self) -> String {
        match self.node() {
            Node::String(s) => {
                let mut t: String = s.chars().take(64).collect();
                if t.len() < s.len() {
                    t.push('…');
                }
                t
            }
            Node::Object { .. } => "an object".into(),
            Node::Array { .. } => "an array".into(),
            Node::Static(StaticNode::Null) => "null".into(),
            Node::Static(StaticNode::Bool(b)) => b.to_string(),
            Node::Static(StaticNode::I64(v)) => format!("number {v}"),
            Node::Static(StaticNode::U64(v)) => format!("number {v}"),
            Node::Static(StaticNode::F64(v)) => format!("number {v}"),
            #[allow(unreachable_patterns)]
            _ => "a value".into(),
        }
    }
}

/// Iterator over `(key, value)` pairs of an object.
pub struct Members<'t, 'a> {
    rest: &'t [Node<'a>],
    left: usize,
}

impl<'t, 'a> Iterator for Members<'t, 'a> {
    type Item = (&'a str, Val<'t, 'a>);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let key = match self.rest.first() {
            Some(Node::String(k)) => *k,
            _ => return self.stop(),
        };
        let Some(val) = self.rest.get(1..).and_then(Val::at) else {
            return self.stop();
        };
        self.rest = self.rest.get(1 + val.body.len()..).unwrap_or(&[]);
        self.left -= 1;
        Some((key, val))
    }
}

impl<'t, 'a> Members<'t, 'a> {
    fn stop(&mut self) -> Option<(&'a str, Val<'t, 'a>)> {
        self.left = 0;
        None
    }
}

/// Iterator over the elements of an array.
pub struct Elements<'t, 'a> {
    rest: &'t [Node<'a>],
    left: usize,
}

impl<'t, 'a> Iterator for Elements<'t, 'a> {
    type Item = Val<'t, 'a>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let Some(val) = Val::at(self.rest) else {
            self.left = 0;
            return None;
        };
        self.rest = self.rest.get(val.body.len()..).unwrap_or(&[]);
        self.left -= 1;
        Some(val)
    }
}
