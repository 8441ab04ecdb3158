using System.Globalization;
using System.Text;

namespace AspireCache.Verification;

/// <summary>
/// The sequential specification of one partition: a map from the partition's keys to (value, version).
/// <para>
/// A state is an immutable <c>long[]</c> of <see cref="Stride"/> slots per key:
/// value id (-1 = absent), version, symbol, floor.
/// <list type="bullet">
/// <item>symbol <see cref="KnownVersion"/>: the version is exactly <c>version</c> (or none when absent).</item>
/// <item>symbol <see cref="Unshared"/> or an op index (a batch shared by several keys): the version was not recorded
/// (unknown outcome, or an output without ETag); it is some number ≥ <c>version</c>. The first read or CAS that names
/// it pins it (in every key holding the same symbol).</item>
/// <item>floor: the smallest value the highest version ever created for the key can have. A new recorded version must
/// exceed it (versions increase per key, deletes included).</item>
/// </list>
/// Every key starts absent with floor 0.
/// </para>
/// <para>
/// Relaxations (they can only make the checker accept more, never report a false violation): a failed CAS against
/// an unrecorded version does not record "version ≠ expected"; pinning an unrecorded batch version does not
/// re-check later versions of batch keys that were overwritten meanwhile.
/// </para>
/// </summary>
internal sealed class KeyValueModel
{
    public const int Stride = 4;
    public const long NoVersion = long.MinValue;
    public const long KnownVersion = -1;
    public const long Unshared = -2;

    private const int ValueSlot = 0;
    private const int VersionSlot = 1;
    private const int SymbolSlot = 2;
    private const int FloorSlot = 3;

    private readonly string[] _keys;
    private readonly List<string> _values = [];
    private readonly CompiledOp[] _ops;

    public KeyValueModel(IReadOnlyList<Operation> ops, bool checkVersions)
    {
        var keyIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var valueIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var keys = new List<string>();

        int Key(string key)
        {
            if (!keyIndex.TryGetValue(key, out var index))
            {
                index = keys.Count;
                keyIndex.Add(key, index);
                keys.Add(key);
            }

            return index;
        }

        int Value(string? value)
        {
            if (value is null)
            {
                return -1;
            }

            if (!valueIndex.TryGetValue(value, out var index))
            {
                index = _values.Count;
                valueIndex.Add(value, index);
                _values.Add(value);
            }

            return index;
        }

        long Ver(long? version) => checkVersions && version is { } v ? v : NoVersion;

        // Keys in a stable order: first appearance.
        _ops = new CompiledOp[ops.Count];
        for (var i = 0; i < ops.Count; i++)
        {
            var op = ops[i];
            var c = new CompiledOp { Kind = op.Kind, Known = op.Known, Symbol = i };
            switch (op.Kind)
            {
                case OpKind.Read:
                    c.Key = Key(op.Key);
                    c.Value = Value(op.ReadValue);
                    c.Version = op.ReadValue is null ? NoVersion : Ver(op.Version);
                    break;
                case OpKind.Write:
                    c.Key = Key(op.Key);
                    c.Value = Value(op.Value);
                    c.Version = op.Known ? Ver(op.Version) : NoVersion;
                    break;
                case OpKind.Delete:
                    c.Key = Key(op.Key);
                    c.Success = op.Success == true;
                    c.Version = op.Known && c.Success ? Ver(op.Version) : NoVersion;
                    break;
                case OpKind.CompareAndSet:
                    c.Key = Key(op.Key);
                    c.Value = Value(op.Value);
                    c.HasExpected = op.ExpectedVersion is not null;
                    c.Expected = op.ExpectedVersion ?? NoVersion;
                    c.Success = op.Success == true;
                    c.Version = op.Known && c.Success ? Ver(op.Version) : NoVersion;
                    break;
                case OpKind.Batch:
                    var set = op.BatchSet ?? new Dictionary<string, string>();
                    c.SetKeys = new int[set.Count];
                    c.SetValues = new int[set.Count];
                    var j = 0;
                    foreach (var (key, value) in set)
                    {
                        c.SetKeys[j] = Key(key);
                        c.SetValues[j] = Value(value);
                        j++;
                    }

                    c.DeleteKeys = (op.BatchDelete ?? []).Select(Key).ToArray();
                    c.Version = op.Known ? Ver(op.Version) : NoVersion;
                    break;
            }

            _ops[i] = c;
        }

        _keys = keys.ToArray();
    }

    public IReadOnlyList<string> Keys => _keys;

    /// <summary>
    /// What operation <paramref name="opIndex"/> needs of a key's floor (the highest version it ever had, which only
    /// grows): a recorded new version must stay above it (<c>Strict</c>); a version a read saw or a successful CAS
    /// expected must not fall below it. Once a floor passes such a demand, the operation can never be linearized.
    /// </summary>
    public IEnumerable<(int Key, long Version, bool Strict)> VersionDemands(int opIndex)
    {
        var op = _ops[opIndex];
        if (!op.Known)
        {
            yield break;
        }

        switch (op.Kind)
        {
            case OpKind.Read when op.Value >= 0 && op.Version != NoVersion:
                yield return (op.Key, op.Version, false);
                break;
            case OpKind.Write when op.Version != NoVersion:
            case OpKind.Delete when op.Success && op.Version != NoVersion:
                yield return (op.Key, op.Version, true);
                break;
            case OpKind.CompareAndSet when op.Success:
                if (op.HasExpected)
                {
                    yield return (op.Key, op.Expected, false);
                }

                if (op.Version != NoVersion)
                {
                    yield return (op.Key, op.Version, true);
                }

                break;
            case OpKind.Batch when op.Version != NoVersion:
                foreach (var k in op.SetKeys)
                {
                    yield return (k, op.Version, true);
                }

                foreach (var k in op.DeleteKeys)
                {
                    yield return (k, op.Version, true);
                }

                break;
        }
    }

    /// <summary>The model key indices operation <paramref name="opIndex"/> touches.</summary>
    public int[] KeysOf(int opIndex)
    {
        var op = _ops[opIndex];
        return op.Kind == OpKind.Batch ? [.. op.SetKeys, .. op.DeleteKeys] : [op.Key];
    }

    public static long Floor(long[] state, int key) => state[(key * Stride) + FloorSlot];

    public long[] InitialState()
    {
        var state = new long[_keys.Length * Stride];
        for (var k = 0; k < _keys.Length; k++)
        {
            state[(k * Stride) + ValueSlot] = -1;
            state[(k * Stride) + VersionSlot] = NoVersion;
            state[(k * Stride) + SymbolSlot] = KnownVersion;
            state[(k * Stride) + FloorSlot] = 0;
        }

        return state;
    }

    /// <summary>
    /// Applies operation <paramref name="opIndex"/> to <paramref name="state"/> (never modified). Returns the next state
    /// (possibly <paramref name="state"/> itself) or <c>null</c> when the operation's recorded output is impossible
    /// here; then, if <paramref name="why"/> is given, the reason is appended to it.
    /// Unknown-outcome operations always succeed (a CAS that cannot match is a no-op).
    /// </summary>
    public long[]? Step(long[] state, int opIndex, StringBuilder? why = null)
    {
        var op = _ops[opIndex];
        switch (op.Kind)
        {
            case OpKind.Read:
                {
                    var b = op.Key * Stride;
                    if (state[b + ValueSlot] != op.Value)
                    {
                        why?.Append(CultureInfo.InvariantCulture, $"it saw {DescribeValue(op.Value, op.Version)} but {_keys[op.Key]} holds {DescribeSlot(state, op.Key)}");
                        return null;
                    }

                    if (op.Value < 0 || op.Version == NoVersion)
                    {
                        return state;
                    }

                    var matched = MatchVersion(state, op.Key, op.Version);
                    if (matched is null)
                    {
                        why?.Append(CultureInfo.InvariantCulture, $"it saw {DescribeValue(op.Value, op.Version)} but {_keys[op.Key]} holds {DescribeSlot(state, op.Key)}");
                    }

                    return matched;
                }

            case OpKind.Write:
                {
                    var next = (long[])state.Clone();
                    if (!Apply(next, [op.Key], [op.Value], [], op.Version, op.Symbol))
                    {
                        why?.Append(CultureInfo.InvariantCulture, $"its version @{op.Version} is not above the versions {_keys[op.Key]} already had (>= @{state[(op.Key * Stride) + FloorSlot]})");
                        return null;
                    }

                    return next;
                }

            case OpKind.Delete:
                {
                    var b = op.Key * Stride;
                    var present = state[b + ValueSlot] >= 0;
                    if (op.Known && op.Success != present)
                    {
                        why?.Append(CultureInfo.InvariantCulture, $"it reported {(op.Success ? "found" : "not found")} but {_keys[op.Key]} holds {DescribeSlot(state, op.Key)}");
                        return null;
                    }

                    if (!present)
                    {
                        return state;
                    }

                    var next = (long[])state.Clone();
                    if (!Apply(next, [], [], [op.Key], op.Version, op.Symbol))
                    {
                        why?.Append(CultureInfo.InvariantCulture, $"its version @{op.Version} is not above the versions {_keys[op.Key]} already had (>= @{state[b + FloorSlot]})");
                        return null;
                    }

                    return next;
                }

            case OpKind.CompareAndSet:
                {
                    var match = Matches(state, op.Key, op.HasExpected, op.Expected);
                    if (op.Known && !op.Success)
                    {
                        // A definite match contradicts the failure; an unrecorded version might differ (relaxation).
                        if (match == Match.Yes)
                        {
                            why?.Append(CultureInfo.InvariantCulture, $"it failed but {_keys[op.Key]} holds {DescribeSlot(state, op.Key)}, which matches its expectation");
                            return null;
                        }

                        return state;
                    }

                    if (match == Match.No)
                    {
                        if (!op.Known)
                        {
                            return state; // An unknown CAS that cannot match: a no-op.
                        }

                        why?.Append(CultureInfo.InvariantCulture, $"it succeeded but {_keys[op.Key]} holds {DescribeSlot(state, op.Key)}, not {(op.HasExpected ? "@" + op.Expected.ToString(CultureInfo.InvariantCulture) : "absent")}");
                        return null;
                    }

                    var next = (long[])state.Clone();
                    if (match == Match.Maybe)
                    {
                        Pin(next, op.Key, op.Expected);
                    }

                    if (!Apply(next, [op.Key], [op.Value], [], op.Version, op.Symbol))
                    {
                        why?.Append(CultureInfo.InvariantCulture, $"its new version @{op.Version} is not above the versions {_keys[op.Key]} already had (>= @{next[(op.Key * Stride) + FloorSlot]})");
                        return null;
                    }

                    return next;
                }

            case OpKind.Batch:
                {
                    var next = (long[])state.Clone();
                    if (!Apply(next, op.SetKeys, op.SetValues, op.DeleteKeys, op.Version, op.Symbol))
                    {
                        why?.Append(CultureInfo.InvariantCulture, $"its version @{op.Version} is not above the versions its keys already had");
                        return null;
                    }

                    return next;
                }

            default:
                throw new InvalidOperationException($"Unknown kind {op.Kind}.");
        }
    }

    public static int Hash(long[] state)
    {
        ulong h = 0xcbf29ce484222325UL;
        foreach (var slot in state)
        {
            h = (h ^ (ulong)slot) * 0x100000001b3UL;
            h ^= h >> 29;
        }

        return (int)(h ^ (h >> 32));
    }

    /// <summary>e.g. <c>k1="a"@3, k2=absent, k3="b"@>=7?</c></summary>
    public string DescribeState(long[] state)
    {
        var sb = new StringBuilder();
        for (var k = 0; k < _keys.Length; k++)
        {
            sb.Append(k == 0 ? string.Empty : ", ").Append(_keys[k]).Append('=').Append(DescribeSlot(state, k));
        }

        return sb.ToString();
    }

    private string DescribeSlot(long[] state, int key)
    {
        var b = key * Stride;
        if (state[b + ValueSlot] < 0)
        {
            return "absent";
        }

        var value = Operation.Quote(_values[(int)state[b + ValueSlot]]);
        return state[b + SymbolSlot] == KnownVersion
            ? value + "@" + state[b + VersionSlot].ToString(CultureInfo.InvariantCulture)
            : value + "@(unrecorded, >=" + state[b + VersionSlot].ToString(CultureInfo.InvariantCulture) + ")";
    }

    private string DescribeValue(int value, long version) =>
        value < 0 ? "absent" : Operation.Quote(_values[value]) + (version == NoVersion ? string.Empty : "@" + version.ToString(CultureInfo.InvariantCulture));

    private enum Match
    {
        No,
        Yes,
        Maybe,
    }

    private static Match Matches(long[] state, int key, bool hasExpected, long expected)
    {
        var b = key * Stride;
        var absent = state[b + ValueSlot] < 0;
        if (!hasExpected)
        {
            return absent ? Match.Yes : Match.No;
        }

        if (absent)
        {
            return Match.No;
        }

        if (state[b + SymbolSlot] == KnownVersion)
        {
            return state[b + VersionSlot] == expected ? Match.Yes : Match.No;
        }

        return expected >= state[b + VersionSlot] ? Match.Maybe : Match.No;
    }

    /// <summary>A read of a present key reporting <paramref name="version"/>: the state itself, a pinned copy, or null.</summary>
    private static long[]? MatchVersion(long[] state, int key, long version)
    {
        var b = key * Stride;
        if (state[b + SymbolSlot] == KnownVersion)
        {
            return state[b + VersionSlot] == version ? state : null;
        }

        if (version < state[b + VersionSlot])
        {
            return null;
        }

        var next = (long[])state.Clone();
        Pin(next, key, version);
        return next;
    }

    /// <summary>Fixes the unrecorded version held by <paramref name="key"/> (and every key sharing it) to <paramref name="version"/>.</summary>
    private static void Pin(long[] state, int key, long version)
    {
        var symbol = state[(key * Stride) + SymbolSlot];
        if (symbol == Unshared)
        {
            PinSlot(state, key * Stride, version);
            return;
        }

        for (var b = 0; b < state.Length; b += Stride)
        {
            if (state[b + SymbolSlot] == symbol)
            {
                PinSlot(state, b, version);
            }
        }
    }

    private static void PinSlot(long[] state, int b, long version)
    {
        state[b + VersionSlot] = version;
        state[b + SymbolSlot] = KnownVersion;
        state[b + FloorSlot] = Math.Max(state[b + FloorSlot], version);
    }

    /// <summary>
    /// Sets <paramref name="setKeys"/> and deletes <paramref name="deleteKeys"/> at one new version: the recorded
    /// <paramref name="version"/>, which must exceed every touched key's floor, or an unrecorded one.
    /// </summary>
    private static bool Apply(long[] state, ReadOnlySpan<int> setKeys, ReadOnlySpan<int> setValues, ReadOnlySpan<int> deleteKeys, long version, int symbol)
    {
        long maxFloor = 0;
        foreach (var k in setKeys)
        {
            maxFloor = Math.Max(maxFloor, state[(k * Stride) + FloorSlot]);
        }

        foreach (var k in deleteKeys)
        {
            maxFloor = Math.Max(maxFloor, state[(k * Stride) + FloorSlot]);
        }

        long newVersion, newSymbol;
        if (version != NoVersion)
        {
            if (version <= maxFloor)
            {
                return false;
            }

            newVersion = version;
            newSymbol = KnownVersion;
        }
        else
        {
            newVersion = maxFloor + 1;
            newSymbol = setKeys.Length > 1 ? symbol : Unshared;
        }

        var releasedShared = false;
        for (var i = 0; i < setKeys.Length; i++)
        {
            var b = setKeys[i] * Stride;
            releasedShared |= state[b + SymbolSlot] >= 0;
            state[b + ValueSlot] = setValues[i];
            state[b + VersionSlot] = newVersion;
            state[b + SymbolSlot] = newSymbol;
            state[b + FloorSlot] = newVersion;
        }

        foreach (var k in deleteKeys)
        {
            var b = k * Stride;
            releasedShared |= state[b + SymbolSlot] >= 0;
            state[b + ValueSlot] = -1;
            state[b + VersionSlot] = NoVersion;
            state[b + SymbolSlot] = KnownVersion;
            state[b + FloorSlot] = newVersion;
        }

        if (releasedShared)
        {
            Normalize(state);
        }

        return true;
    }

    /// <summary>A shared symbol left on a single key is no longer shared (keeps equal states equal for memoization).</summary>
    private static void Normalize(long[] state)
    {
        for (var b = 0; b < state.Length; b += Stride)
        {
            var symbol = state[b + SymbolSlot];
            if (symbol < 0)
            {
                continue;
            }

            var holders = 0;
            for (var o = 0; o < state.Length; o += Stride)
            {
                holders += state[o + SymbolSlot] == symbol ? 1 : 0;
            }

            if (holders == 1)
            {
                state[b + SymbolSlot] = Unshared;
            }
        }
    }

    private sealed class CompiledOp
    {
        public OpKind Kind;
        public bool Known;
        public int Key;
        public int Value = -1;
        public long Version = NoVersion;
        public bool HasExpected;
        public long Expected = NoVersion;
        public bool Success;
        public int Symbol;
        public int[] SetKeys = [];
        public int[] SetValues = [];
        public int[] DeleteKeys = [];
    }
}
