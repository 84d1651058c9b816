//! The ELF symbol table as a fallback for code without DWARF (libc, stripped binaries):
//! a function name, no file or line.

use object::{Object, ObjectSymbol, SymbolKind};

/// Function symbols sorted by address, one per address.
#[derive(Debug, Default)]
pub(super) struct SymbolTable<'data> {
    entries: Vec<Entry<'data>>,
}

#[derive(Clone, Copy, Debug)]
struct Entry<'data> {
    address: u64,
    /// 0 when unknown (hand-written assembly often has none).
    size: u64,
    name: &'data str,
}

impl<'data> SymbolTable<'data> {
    /// Collects the function symbols of `.symtab` (of the file and of its split debug file)
    /// and `.dynsym`. Where several names share an address (`malloc` and `__libc_malloc`),
    /// the one people call is kept: a sized, global name without a leading underscore,
    /// then the shortest.
    pub(super) fn new(objects: &[&object::File<'data>]) -> SymbolTable<'data> {
        let mut entries = Vec::new();
        for object in objects {
            for symbol in object.symbols().chain(object.dynamic_symbols()) {
                if symbol.kind() != SymbolKind::Text || !symbol.is_definition() || symbol.address() == 0 {
                    continue;
                }
                let Ok(name) = symbol.name() else { continue };
                if name.is_empty() {
                    continue;
                }
                entries.push((
                    Entry { address: symbol.address(), size: symbol.size(), name },
                    symbol.is_global(),
                ));
            }
        }
        entries.sort_by(|(a, a_global), (b, b_global)| {
            a.address
                .cmp(&b.address)
                .then((a.size == 0).cmp(&(b.size == 0)))
                .then(a.name.starts_with('_').cmp(&b.name.starts_with('_')))
                .then(b_global.cmp(a_global))
                .then(a.name.len().cmp(&b.name.len()))
                .then(a.name.cmp(b.name))
        });
        entries.dedup_by_key(|(entry, _)| entry.address);
        let mut entries: Vec<Entry<'data>> = entries.into_iter().map(|(entry, _)| entry).collect();
        entries.shrink_to_fit();
        SymbolTable { entries }
    }

    /// The function containing `svma` (an address as in the ELF file).
    pub(super) fn lookup(&self, svma: u64) -> Option<&'data str> {
        let after = self.entries.partition_point(|e| e.address <= svma);
        let entry = self.entries.get(after.checked_sub(1)?)?;
        // Outside a sized symbol is a gap (padding, a stripped local function): no name
        // beats a wrong one.
        if entry.size != 0 && svma - entry.address >= entry.size {
            return None;
        }
        Some(entry.name)
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry<'_>>()
    }
}
