using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace AspireCache.Node.StateMachine;

/// <summary>
/// The state's entries: an immutable map from key to <see cref="CacheEntry"/>, kept in ordinal key
/// order (a persistent B+tree). One structure answers point lookups, prefix listing from any key and
/// picking the entry at a position (uniform sampling for eviction).
/// <para><b>Copy-on-write.</b> An <see cref="EntryMap"/> never changes. <see cref="ToBuilder"/> gives a
/// <see cref="Builder"/> that copies only the nodes on the paths it changes and, until
/// <see cref="Builder.ToImmutable"/>, changes its own copies in place (a batch of sequential keys
/// copies each leaf once); after <see cref="Builder.ToImmutable"/> every node handed out is frozen.</para>
/// <para><b>Memory.</b> A leaf holds up to <see cref="MaxLeaf"/> (key, entry) pairs in one array, an
/// inner node up to <see cref="MaxInner"/> (separator, child) pairs; arrays are copied at their exact
/// length, so an entry costs its 16-byte slot plus its share of one leaf's object and array headers
/// (no per-entry node, no hash). Ascending inserts fill leaves completely (an insert past the end of a
/// full leaf starts a new one instead of splitting it in half); deletes merge or rebalance leaves that
/// fall under a quarter full.</para>
/// <para>Lookups compare keys with <see cref="string.CompareOrdinal(string, string)"/>: O(log n) comparisons.</para>
/// </summary>
public sealed class EntryMap : IReadOnlyDictionary<string, CacheEntry>
{
    /// <summary>Most (key, entry) pairs in a leaf.</summary>
    internal const int MaxLeaf = 32;

    /// <summary>Most children of an inner node.</summary>
    internal const int MaxInner = 32;

    /// <summary>A non-root node with fewer items than this is merged with or refilled from a sibling.</summary>
    internal const int MinLeaf = MaxLeaf / 4;

    internal const int MinInner = MaxInner / 4;

    private static long s_lastSession;

    private readonly Node? _root;

    private EntryMap(Node? root) => _root = root;

    public static EntryMap Empty { get; } = new(null);

    public int Count => _root?.Count ?? 0;

    public CacheEntry this[string key] =>
        TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"The key '{key}' is not in the map.");

    public IEnumerable<string> Keys => this.Select(static pair => pair.Key);

    public IEnumerable<CacheEntry> Values => this.Select(static pair => pair.Value);

    /// <summary>Height of the tree (0 when empty, 1 for a single leaf): for tests and diagnostics.</summary>
    internal int Height => HeightOf(_root);

    internal Node? Root => _root;

    public bool ContainsKey(string key) => Find(_root, key, out _);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out CacheEntry value)
    {
        if (Find(_root, key, out var item))
        {
            value = item.Value;
            return true;
        }

        value = null;
        return false;
    }

    /// <summary>The map's own instance of <paramref name="equalKey"/> (so callers can keep it without duplicating the text).</summary>
    public bool TryGetKey(string equalKey, out string actualKey)
    {
        if (Find(_root, equalKey, out var item))
        {
            actualKey = item.Key;
            return true;
        }

        actualKey = equalKey;
        return false;
    }

    /// <summary>The pair at <paramref name="index"/> in key order (0 ≤ index &lt; <see cref="Count"/>): O(log n).</summary>
    public KeyValuePair<string, CacheEntry> GetAt(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        var node = _root!;
        while (node is Inner inner)
        {
            for (var i = 0; ; i++)
            {
                var child = inner.Slots[i].Child;
                if (index < child.Count)
                {
                    node = child;
                    break;
                }

                index -= child.Count;
            }
        }

        var item = ((Leaf)node).Items[index];
        return new(item.Key, item.Value);
    }

    /// <summary>The pairs in key order, starting at the first key ≥ <paramref name="start"/> (&gt; it when not <paramref name="inclusive"/>).</summary>
    public Range From(string start, bool inclusive = true)
    {
        ArgumentNullException.ThrowIfNull(start);
        return new(_root, start, inclusive);
    }

    public Enumerator GetEnumerator() => new(_root, null, true);

    IEnumerator<KeyValuePair<string, CacheEntry>> IEnumerable<KeyValuePair<string, CacheEntry>>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public Builder ToBuilder() => new(_root);

    /// <summary>Creates an empty map's builder.</summary>
    public static Builder CreateBuilder() => new(null);

    private static long NewSession() => Interlocked.Increment(ref s_lastSession);

    private static int HeightOf(Node? node)
    {
        var height = 0;
        for (; node is not null; height++)
        {
            node = node is Inner inner ? inner.Slots[0].Child : null;
        }

        return height;
    }

    private static bool Find(Node? node, string key, out Pair item)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (node is null)
        {
            item = default;
            return false;
        }

        while (node is Inner inner)
        {
            node = inner.Slots[ChildIndex(inner, key)].Child;
        }

        var leaf = (Leaf)node;
        var index = Search(leaf, key);
        item = index >= 0 ? leaf.Items[index] : default;
        return index >= 0;
    }

    /// <summary>Index of <paramref name="key"/> in the leaf, or the bitwise complement of where it would go.</summary>
    private static int Search(Leaf leaf, string key)
    {
        var items = leaf.Items;
        int low = 0, high = leaf.Length - 1;
        while (low <= high)
        {
            var middle = (int)((uint)(low + high) >> 1);
            var order = string.CompareOrdinal(items[middle].Key, key);
            if (order == 0)
            {
                return middle;
            }

            if (order < 0)
            {
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return ~low;
    }

    /// <summary>The child whose range holds <paramref name="key"/>: the last one whose separator is ≤ it (the first has none).</summary>
    private static int ChildIndex(Inner inner, string key)
    {
        var slots = inner.Slots;
        int low = 1, high = inner.Length - 1, found = 0;
        while (low <= high)
        {
            var middle = (int)((uint)(low + high) >> 1);
            if (string.CompareOrdinal(slots[middle].Key, key) <= 0)
            {
                found = middle;
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return found;
    }

    // -----------------------------------------------------------------------------------------
    // Nodes
    // -----------------------------------------------------------------------------------------

    internal abstract class Node
    {
        /// <summary>The builder session that created this node and may still change it (frozen for every other).</summary>
        public long Session;

        /// <summary>Entries in this subtree.</summary>
        public int Count;

        /// <summary>Items (leaf) or children (inner node) in use.</summary>
        public int Length;
    }

    internal struct Pair(string key, CacheEntry value)
    {
        public string Key = key;
        public CacheEntry Value = value;
    }

    internal struct Slot(string? key, Node child)
    {
        /// <summary>Every key in <see cref="Child"/> is ≥ this and every key of the previous child is &lt; it (unused in slot 0).</summary>
        public string? Key = key;
        public Node Child = child;
    }

    internal sealed class Leaf : Node
    {
        public Pair[] Items = [];
    }

    internal sealed class Inner : Node
    {
        public Slot[] Slots = [];
    }

    // -----------------------------------------------------------------------------------------
    // Enumeration
    // -----------------------------------------------------------------------------------------

    /// <summary>The pairs from a start key on, in key order (see <see cref="From"/>).</summary>
    public readonly struct Range : IEnumerable<KeyValuePair<string, CacheEntry>>
    {
        private readonly Node? _root;
        private readonly string _start;
        private readonly bool _inclusive;

        internal Range(Node? root, string start, bool inclusive) => (_root, _start, _inclusive) = (root, start, inclusive);

        public Enumerator GetEnumerator() => new(_root, _start, _inclusive);

        IEnumerator<KeyValuePair<string, CacheEntry>> IEnumerable<KeyValuePair<string, CacheEntry>>.GetEnumerator() => GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>Walks the leaves left to right with a stack of (inner node, child index): O(1) amortized per pair.</summary>
    public struct Enumerator : IEnumerator<KeyValuePair<string, CacheEntry>>
    {
        private readonly Node? _root;
        private readonly string? _start;
        private readonly bool _inclusive;
        private (Inner Node, int Index)[]? _path;
        private int _depth;
        private Leaf? _leaf;
        private int _index;
        private bool _started;

        internal Enumerator(Node? root, string? start, bool inclusive)
        {
            _root = root;
            _start = start;
            _inclusive = inclusive;
        }

        public readonly KeyValuePair<string, CacheEntry> Current
        {
            get
            {
                var item = _leaf!.Items[_index];
                return new(item.Key, item.Value);
            }
        }

        readonly object IEnumerator.Current => Current;

        public bool MoveNext()
        {
            if (!_started)
            {
                _started = true;
                if (_root is null)
                {
                    return false;
                }

                Seek();
            }

            if (_leaf is null)
            {
                return false;
            }

            if (++_index < _leaf.Length)
            {
                return true;
            }

            // Next leaf: up to the nearest ancestor with a child to the right, then down its leftmost path.
            while (_depth > 0)
            {
                ref var top = ref _path![_depth - 1];
                if (++top.Index < top.Node.Length)
                {
                    Descend(top.Node.Slots[top.Index].Child);
                    if (_leaf.Length > 0)
                    {
                        _index = 0;
                        return true;
                    }

                    continue;
                }

                _depth--;
            }

            _leaf = null;
            return false;
        }

        public void Reset()
        {
            _started = false;
            _leaf = null;
            _depth = 0;
        }

        public readonly void Dispose()
        {
        }

        /// <summary>Positions just before the first pair to return.</summary>
        private void Seek()
        {
            _path = new (Inner, int)[Math.Max(HeightOf(_root) - 1, 0)];
            _depth = 0;
            var node = _root!;
            if (_start is null)
            {
                Descend(node);
                _index = -1;
                return;
            }

            while (node is Inner inner)
            {
                var child = ChildIndex(inner, _start);
                _path[_depth++] = (inner, child);
                node = inner.Slots[child].Child;
            }

            _leaf = (Leaf)node;
            var found = Search(_leaf, _start);
            var first = found >= 0 ? (_inclusive ? found : found + 1) : ~found;
            _index = first - 1; // MoveNext steps onto it (or on to the next leaf when it is past this one's end)
        }

        /// <summary>Pushes the leftmost path under <paramref name="node"/> and stops at its first leaf.</summary>
        private void Descend(Node node)
        {
            while (node is Inner inner)
            {
                _path![_depth++] = (inner, 0);
                node = inner.Slots[0].Child;
            }

            _leaf = (Leaf)node;
        }
    }

    // -----------------------------------------------------------------------------------------
    // Builder
    // -----------------------------------------------------------------------------------------

    /// <summary>
    /// Changes a copy of a map. Nodes it copies belong to its current session and are changed in place
    /// until <see cref="ToImmutable"/>, which starts a new session: a map once handed out never changes.
    /// Not thread-safe; the maps it hands out are.
    /// </summary>
    public sealed class Builder
    {
        private Node? _root;
        private long _session = NewSession();

        internal Builder(Node? root) => _root = root;

        public int Count => _root?.Count ?? 0;

        public CacheEntry this[string key]
        {
            get => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"The key '{key}' is not in the map.");
            set => Set(key, value);
        }

        public bool ContainsKey(string key) => Find(_root, key, out _);

        public bool TryGetValue(string key, [MaybeNullWhen(false)] out CacheEntry value)
        {
            if (Find(_root, key, out var item))
            {
                value = item.Value;
                return true;
            }

            value = null;
            return false;
        }

        /// <summary>Adds or replaces; true when the key was added. A replaced entry keeps the map's instance of the key.</summary>
        public bool Set(string key, CacheEntry value) => Put(key, value, onlyIfAbsent: false);

        /// <summary>Adds unless the key is present (then changes nothing); true when added.</summary>
        public bool TryAdd(string key, CacheEntry value) => Put(key, value, onlyIfAbsent: true);

        /// <summary>Removes the key; true when it was present.</summary>
        public bool Remove(string key)
        {
            ArgumentNullException.ThrowIfNull(key);
            if (_root is null)
            {
                return false;
            }

            var root = Delete(_root, key, _session, out var removed);
            if (!removed)
            {
                return false;
            }

            while (root is Inner { Length: 1 } only)
            {
                root = only.Slots[0].Child;
            }

            _root = root.Count == 0 ? null : root;
            return true;
        }

        /// <summary>The map as it is now. Later changes through this builder do not affect it.</summary>
        public EntryMap ToImmutable()
        {
            _session = NewSession();
            return _root is null ? Empty : new EntryMap(_root);
        }

        private bool Put(string key, CacheEntry value, bool onlyIfAbsent)
        {
            ArgumentNullException.ThrowIfNull(key);
            ArgumentNullException.ThrowIfNull(value);
            if (_root is null)
            {
                _root = new Leaf { Session = _session, Items = [new Pair(key, value)], Length = 1, Count = 1 };
                return true;
            }

            var outcome = Outcome.Unchanged;
            var root = Insert(_root, key, value, _session, onlyIfAbsent, ref outcome, out var split, out var splitKey);
            if (split is not null)
            {
                root = new Inner
                {
                    Session = _session,
                    Slots = [new Slot(null, root), new Slot(splitKey, split)],
                    Length = 2,
                    Count = root.Count + split.Count,
                };
            }

            _root = root;
            return outcome == Outcome.Added;
        }
    }

    private enum Outcome
    {
        Unchanged,
        Replaced,
        Added,
    }

    // -----------------------------------------------------------------------------------------
    // Insert
    // -----------------------------------------------------------------------------------------

    /// <summary>
    /// Puts the pair under <paramref name="node"/>; returns the node that replaces it (itself when changed
    /// in place or unchanged) and, when it overflowed, a new right sibling with its smallest key.
    /// </summary>
    private static Node Insert(Node node, string key, CacheEntry value, long session, bool onlyIfAbsent, ref Outcome outcome, out Node? split, out string? splitKey)
    {
        split = null;
        splitKey = null;
        if (node is Leaf leaf)
        {
            var index = Search(leaf, key);
            if (index >= 0)
            {
                if (onlyIfAbsent)
                {
                    outcome = Outcome.Unchanged;
                    return leaf;
                }

                outcome = Outcome.Replaced;
                var changed = Writable(leaf, session, leaf.Length);
                changed.Items[index].Value = value; // the stored key instance stays
                return changed;
            }

            outcome = Outcome.Added;
            return InsertIntoLeaf(leaf, ~index, new Pair(key, value), session, out split, out splitKey);
        }

        var inner = (Inner)node;
        var slot = ChildIndex(inner, key);
        var child = inner.Slots[slot].Child;
        var newChild = Insert(child, key, value, session, onlyIfAbsent, ref outcome, out var childSplit, out var childSplitKey);
        if (outcome == Outcome.Unchanged)
        {
            return inner;
        }

        var delta = outcome == Outcome.Added ? 1 : 0;
        if (childSplit is null)
        {
            if (newChild == child && child.Session == session && inner.Session == session)
            {
                inner.Count += delta; // changed in place all the way down
                return inner;
            }

            var changed = Writable(inner, session, inner.Length);
            changed.Slots[slot].Child = newChild;
            changed.Count += delta;
            return changed;
        }

        return InsertIntoInner(inner, slot, newChild, new Slot(childSplitKey, childSplit), delta, session, out split, out splitKey);
    }

    private static Leaf InsertIntoLeaf(Leaf leaf, int index, Pair item, long session, out Node? split, out string? splitKey)
    {
        split = null;
        splitKey = null;
        var length = leaf.Length;
        if (length < MaxLeaf)
        {
            var target = Writable(leaf, session, length + 1);
            Array.Copy(target.Items, index, target.Items, index + 1, length - index);
            target.Items[index] = item;
            target.Length = length + 1;
            target.Count = length + 1;
            return target;
        }

        if (index == length)
        {
            // Past the end of a full leaf: it stays as it is and the key starts the next one.
            split = new Leaf { Session = session, Items = [item], Length = 1, Count = 1 };
            splitKey = item.Key;
            return leaf;
        }

        // Split the full leaf (plus the new pair) in two halves, each copied at its exact length.
        var (leftItems, rightItems) = SplitWith(leaf.Items, length, index, item);
        var left = new Leaf { Session = session, Items = leftItems, Length = leftItems.Length, Count = leftItems.Length };
        var right = new Leaf { Session = session, Items = rightItems, Length = rightItems.Length, Count = rightItems.Length };
        split = right;
        splitKey = right.Items[0].Key;
        return left;
    }

    /// <summary>Replaces child <paramref name="slot"/> by <paramref name="newChild"/> and inserts <paramref name="added"/> after it.</summary>
    private static Inner InsertIntoInner(Inner inner, int slot, Node newChild, Slot added, int delta, long session, out Node? split, out string? splitKey)
    {
        split = null;
        splitKey = null;
        var length = inner.Length;
        var index = slot + 1;
        if (length < MaxInner)
        {
            var target = Writable(inner, session, length + 1);
            Array.Copy(target.Slots, index, target.Slots, index + 1, length - index);
            target.Slots[slot].Child = newChild;
            target.Slots[index] = added;
            target.Length = length + 1;
            target.Count += delta;
            return target;
        }

        if (index == length)
        {
            // Past the end of a full node: it keeps its children and the new one starts the next node.
            var kept = Writable(inner, session, length);
            kept.Slots[slot].Child = newChild;
            kept.Count = CountOf(kept.Slots, length);
            split = new Inner { Session = session, Slots = [added], Length = 1, Count = added.Child.Count };
            splitKey = added.Key;
            return kept;
        }

        var (leftSlots, rightSlots) = SplitWith(inner.Slots, length, index, added);
        if (slot < leftSlots.Length)
        {
            leftSlots[slot].Child = newChild;
        }
        else
        {
            rightSlots[slot - leftSlots.Length].Child = newChild;
        }

        var left = new Inner { Session = session, Slots = leftSlots, Length = leftSlots.Length };
        var right = new Inner { Session = session, Slots = rightSlots, Length = rightSlots.Length };
        left.Count = CountOf(left.Slots, left.Length);
        right.Count = CountOf(right.Slots, right.Length);
        split = right;
        splitKey = right.Slots[0].Key;
        return left;
    }

    // -----------------------------------------------------------------------------------------
    // Delete
    // -----------------------------------------------------------------------------------------

    private static Node Delete(Node node, string key, long session, out bool removed)
    {
        if (node is Leaf leaf)
        {
            var index = Search(leaf, key);
            removed = index >= 0;
            if (!removed)
            {
                return leaf;
            }

            var length = leaf.Length;
            if (leaf.Session == session)
            {
                Array.Copy(leaf.Items, index + 1, leaf.Items, index, length - index - 1);
                leaf.Items[length - 1] = default; // drop the references
                leaf.Length = length - 1;
                leaf.Count = length - 1;
                return leaf;
            }

            var items = new Pair[length - 1];
            Array.Copy(leaf.Items, 0, items, 0, index);
            Array.Copy(leaf.Items, index + 1, items, index, length - index - 1);
            return new Leaf { Session = session, Items = items, Length = length - 1, Count = length - 1 };
        }

        var inner = (Inner)node;
        var slot = ChildIndex(inner, key);
        var child = inner.Slots[slot].Child;
        var newChild = Delete(child, key, session, out removed);
        if (!removed)
        {
            return inner;
        }

        var target = Writable(inner, session, inner.Length);
        target.Slots[slot].Child = newChild;
        target.Count--;
        if (newChild.Length < (newChild is Leaf ? MinLeaf : MinInner) && target.Length > 1)
        {
            Rebalance(target, slot, session);
        }

        return target;
    }

    /// <summary>
    /// Child <paramref name="slot"/> of <paramref name="parent"/> (writable) is under a quarter full:
    /// merges it with a neighbour when both fit in one node, otherwise shares their items evenly.
    /// </summary>
    private static void Rebalance(Inner parent, int slot, long session)
    {
        var leftSlot = slot > 0 ? slot - 1 : slot;
        var left = parent.Slots[leftSlot].Child;
        var right = parent.Slots[leftSlot + 1].Child;
        var separator = parent.Slots[leftSlot + 1].Key;
        if (left is Leaf leftLeaf)
        {
            var rightLeaf = (Leaf)right;
            var all = new Pair[leftLeaf.Length + rightLeaf.Length];
            Array.Copy(leftLeaf.Items, 0, all, 0, leftLeaf.Length);
            Array.Copy(rightLeaf.Items, 0, all, leftLeaf.Length, rightLeaf.Length);
            if (all.Length <= MaxLeaf)
            {
                parent.Slots[leftSlot].Child = new Leaf { Session = session, Items = all, Length = all.Length, Count = all.Length };
                RemoveSlot(parent, leftSlot + 1);
                return;
            }

            var half = all.Length / 2;
            var newLeft = new Leaf { Session = session, Items = all[..half], Length = half, Count = half };
            var newRight = new Leaf { Session = session, Items = all[half..], Length = all.Length - half, Count = all.Length - half };
            parent.Slots[leftSlot].Child = newLeft;
            parent.Slots[leftSlot + 1] = new Slot(newRight.Items[0].Key, newRight);
            return;
        }

        // Inner nodes: the right node's first child is bounded by the parent's separator. Empty
        // children (a leaf emptied under a node that had no sibling to merge it with) are dropped.
        var leftInner = (Inner)left;
        var rightInner = (Inner)right;
        var slots = new List<Slot>(leftInner.Length + rightInner.Length);
        AddNonEmpty(slots, leftInner.Slots, leftInner.Length, null);
        AddNonEmpty(slots, rightInner.Slots, rightInner.Length, separator);
        if (slots.Count == 0)
        {
            slots.Add(leftInner.Slots[0]); // nothing left under either: one empty leaf keeps the level
        }

        if (slots.Count <= MaxInner)
        {
            parent.Slots[leftSlot].Child = new Inner { Session = session, Slots = [.. slots], Length = slots.Count, Count = left.Count + right.Count };
            RemoveSlot(parent, leftSlot + 1);
            return;
        }

        var middle = slots.Count / 2;
        var first = new Inner { Session = session, Slots = [.. slots[..middle]], Length = middle };
        var second = new Inner { Session = session, Slots = [.. slots[middle..]], Length = slots.Count - middle };
        first.Count = CountOf(first.Slots, first.Length);
        second.Count = CountOf(second.Slots, second.Length);
        parent.Slots[leftSlot].Child = first;
        parent.Slots[leftSlot + 1] = new Slot(second.Slots[0].Key, second);
    }

    /// <summary>
    /// Appends the slots whose subtree holds something. Slot 0's key is replaced by <paramref name="firstKey"/>
    /// (the parent's separator for a right node; null for a left one, whose first slot can only land first).
    /// Dropping an empty child keeps every other separator valid: they are bounds, not keys that must exist.
    /// </summary>
    private static void AddNonEmpty(List<Slot> target, Slot[] slots, int length, string? firstKey)
    {
        for (var i = 0; i < length; i++)
        {
            if (slots[i].Child.Count > 0)
            {
                target.Add(new Slot(i == 0 ? firstKey : slots[i].Key, slots[i].Child));
            }
        }
    }

    private static void RemoveSlot(Inner inner, int index)
    {
        var length = inner.Length;
        Array.Copy(inner.Slots, index + 1, inner.Slots, index, length - index - 1);
        inner.Slots[length - 1] = default;
        inner.Length = length - 1;
    }

    // -----------------------------------------------------------------------------------------
    // Copy-on-write
    // -----------------------------------------------------------------------------------------

    /// <summary>
    /// The leaf itself when this session created it (grown to hold <paramref name="capacity"/> items),
    /// otherwise a copy owned by the session, at exactly <paramref name="capacity"/>.
    /// </summary>
    private static Leaf Writable(Leaf leaf, long session, int capacity)
    {
        var owned = leaf.Session == session;
        var items = WritableArray(leaf.Items, leaf.Length, owned, capacity, MaxLeaf);
        if (owned)
        {
            leaf.Items = items;
            return leaf;
        }

        return new Leaf { Session = session, Items = items, Length = leaf.Length, Count = leaf.Count };
    }

    private static Inner Writable(Inner inner, long session, int capacity)
    {
        var owned = inner.Session == session;
        var slots = WritableArray(inner.Slots, inner.Length, owned, capacity, MaxInner);
        if (owned)
        {
            inner.Slots = slots;
            return inner;
        }

        return new Inner { Session = session, Slots = slots, Length = inner.Length, Count = inner.Count };
    }

    /// <summary>
    /// An owned array, grown (doubling, up to <paramref name="max"/>) when it holds fewer than
    /// <paramref name="capacity"/>; otherwise a copy of its <paramref name="length"/> used items at exactly
    /// <paramref name="capacity"/>.
    /// </summary>
    private static T[] WritableArray<T>(T[] array, int length, bool owned, int capacity, int max)
    {
        if (owned)
        {
            if (array.Length < capacity)
            {
                Array.Resize(ref array, Math.Min(max, Math.Max(capacity, array.Length * 2)));
            }

            return array;
        }

        var copy = new T[capacity];
        Array.Copy(array, copy, length);
        return copy;
    }

    /// <summary>The <paramref name="length"/> used items of <paramref name="source"/> with <paramref name="item"/> at <paramref name="index"/>, cut in two halves (each its own array at its exact length).</summary>
    private static (T[] Left, T[] Right) SplitWith<T>(T[] source, int length, int index, T item)
    {
        var total = length + 1;
        var all = new T[total];
        Array.Copy(source, 0, all, 0, index);
        all[index] = item;
        Array.Copy(source, index, all, index + 1, length - index);
        return (all[..(total / 2)], all[(total / 2)..]);
    }

    /// <summary>Leaves, inner nodes and array slots allocated (used or not): for tests of the memory layout.</summary>
    internal (int Leaves, int Inners, long Slots) Shape()
    {
        int leaves = 0, inners = 0;
        long slots = 0;
        Visit(_root);
        return (leaves, inners, slots);

        void Visit(Node? node)
        {
            switch (node)
            {
                case Leaf leaf:
                    leaves++;
                    slots += leaf.Items.Length;
                    break;
                case Inner inner:
                    inners++;
                    slots += inner.Slots.Length;
                    for (var i = 0; i < inner.Length; i++)
                    {
                        Visit(inner.Slots[i].Child);
                    }

                    break;
            }
        }
    }

    /// <summary>Checks the tree's invariants (tests): order, separators, counts, equal leaf depth, no references past a node's length.</summary>
    internal void Validate()
    {
        if (_root is null)
        {
            return;
        }

        if (_root.Count == 0)
        {
            throw new InvalidOperationException("An empty map must have no root.");
        }

        var leafDepth = -1;
        string? previous = null;
        Check(_root, 0, null, null);

        void Check(Node node, int depth, string? lower, string? upper)
        {
            if (node is Leaf leaf)
            {
                leafDepth = leafDepth < 0 ? depth : leafDepth;
                Require(depth == leafDepth, "leaves at different depths");
                Require(leaf.Length <= leaf.Items.Length && leaf.Length <= MaxLeaf && leaf.Count == leaf.Length, "leaf length/count");
                for (var i = 0; i < leaf.Items.Length; i++)
                {
                    if (i >= leaf.Length)
                    {
                        Require(leaf.Items[i].Key is null && leaf.Items[i].Value is null, "a reference past the leaf's length");
                        continue;
                    }

                    var key = leaf.Items[i].Key;
                    Require(key is not null && leaf.Items[i].Value is not null, "null key or value");
                    Require(previous is null || string.CompareOrdinal(previous, key) < 0, "keys out of order");
                    Require(lower is null || string.CompareOrdinal(lower, key) <= 0, "key below its separator");
                    Require(upper is null || string.CompareOrdinal(key, upper) < 0, "key at or above the next separator");
                    previous = key;
                }

                return;
            }

            var inner = (Inner)node;
            Require(inner.Length >= 1 && inner.Length <= inner.Slots.Length && inner.Length <= MaxInner, "inner length");
            Require(inner.Count == CountOf(inner.Slots, inner.Length), "inner count");
            for (var i = 0; i < inner.Slots.Length; i++)
            {
                if (i >= inner.Length)
                {
                    Require(inner.Slots[i].Child is null && inner.Slots[i].Key is null, "a reference past the node's length");
                    continue;
                }

                var from = i == 0 ? lower : inner.Slots[i].Key;
                Require(i == 0 || from is not null, "missing separator");
                Require(i == 0 || lower is null || string.CompareOrdinal(lower, from!) <= 0, "separator below its node's bound");
                var to = i + 1 < inner.Length ? inner.Slots[i + 1].Key : upper;
                Check(inner.Slots[i].Child, depth + 1, from, to);
            }
        }

        static void Require(bool condition, string what)
        {
            if (!condition)
            {
                throw new InvalidOperationException("EntryMap invariant broken: " + what + ".");
            }
        }
    }

    private static int CountOf(Slot[] slots, int length)
    {
        var count = 0;
        for (var i = 0; i < length; i++)
        {
            count += slots[i].Child.Count;
        }

        return count;
    }
}
