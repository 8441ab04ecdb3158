using System.Globalization;
using System.Text;

namespace AspireCache.Verification;

/// <summary>The kinds of client operation a history can hold.</summary>
public enum OpKind
{
    Read,
    Write,
    Delete,
    CompareAndSet,
    Batch,
}

/// <summary>
/// One client operation of a recorded history: what was asked, what came back, and when.
/// </summary>
/// <param name="ClientId">The client (logical thread) that issued it. Informational: the checker does not need it.</param>
/// <param name="Kind">What the operation does.</param>
/// <param name="Key">The key of a single-key operation; <see cref="string.Empty"/> for a <see cref="OpKind.Batch"/>.</param>
/// <param name="Value">Input: the value written by a Write or CompareAndSet.</param>
/// <param name="ExpectedVersion">Input of CompareAndSet: the version the key must have; <c>null</c> means "the key must be absent".</param>
/// <param name="BatchSet">Input of Batch: keys to set and their values.</param>
/// <param name="BatchDelete">Input of Batch: keys to delete.</param>
/// <param name="Known">
/// <c>true</c> when the outcome is known. <c>false</c> for a timeout or a reset connection: the operation may or
/// may not have taken effect, at any time after <paramref name="Invoke"/>; its outputs are ignored and its
/// <paramref name="Complete"/> is treated as <see cref="long.MaxValue"/>. Unknown reads carry no information and are dropped.
/// </param>
/// <param name="ReadValue">Output of Read: the value seen, <c>null</c> when the key was absent.</param>
/// <param name="Version">
/// Output: the version (ETag) a Read saw, or the new version created by a Write, a successful CompareAndSet or a Batch
/// (optionally by a Delete that found its key). <c>null</c> when not recorded: the checker then treats it as "some version".
/// </param>
/// <param name="Success">Output: for a Delete, whether the key was found; for a CompareAndSet, whether it was applied.</param>
/// <param name="Invoke">Stopwatch timestamp taken before the request was sent.</param>
/// <param name="Complete">Stopwatch timestamp taken after the response arrived; <see cref="long.MaxValue"/> when unknown.</param>
public sealed record Operation(
    int ClientId,
    OpKind Kind,
    string Key,
    string? Value,
    long? ExpectedVersion,
    IReadOnlyDictionary<string, string>? BatchSet,
    IReadOnlyList<string>? BatchDelete,
    bool Known,
    string? ReadValue,
    long? Version,
    bool? Success,
    long Invoke,
    long Complete)
{
    /// <summary>The completion time the checker uses: <see cref="long.MaxValue"/> for an unknown outcome.</summary>
    public long EffectiveComplete => Known ? Complete : long.MaxValue;

    /// <summary>Every key the operation touches (for a batch: the set keys, then the deleted keys).</summary>
    public IEnumerable<string> Keys
    {
        get
        {
            if (Kind != OpKind.Batch)
            {
                yield return Key;
                yield break;
            }

            if (BatchSet is not null)
            {
                foreach (var key in BatchSet.Keys)
                {
                    yield return key;
                }
            }

            if (BatchDelete is not null)
            {
                foreach (var key in BatchDelete)
                {
                    yield return key;
                }
            }
        }
    }

    // ---- factories (mainly for hand-written histories) ----

    /// <summary>A read that returned <paramref name="value"/> (<c>null</c> = absent) with version <paramref name="version"/>.</summary>
    public static Operation Read(int clientId, string key, string? value, long invoke, long complete, long? version = null) =>
        new(clientId, OpKind.Read, key, null, null, null, null, true, value, version, null, invoke, complete);

    /// <summary>An acknowledged write that created <paramref name="version"/>.</summary>
    public static Operation Write(int clientId, string key, string value, long invoke, long complete, long? version = null) =>
        new(clientId, OpKind.Write, key, value, null, null, null, true, null, version, null, invoke, complete);

    /// <summary>A write whose outcome is unknown (timeout, reset): it may or may not have taken effect.</summary>
    public static Operation WriteUnknown(int clientId, string key, string value, long invoke) =>
        new(clientId, OpKind.Write, key, value, null, null, null, false, null, null, null, invoke, long.MaxValue);

    /// <summary>A delete that reported whether the key was <paramref name="found"/>.</summary>
    public static Operation Delete(int clientId, string key, bool found, long invoke, long complete, long? version = null) =>
        new(clientId, OpKind.Delete, key, null, null, null, null, true, null, version, found, invoke, complete);

    /// <summary>A delete whose outcome is unknown.</summary>
    public static Operation DeleteUnknown(int clientId, string key, long invoke) =>
        new(clientId, OpKind.Delete, key, null, null, null, null, false, null, null, null, invoke, long.MaxValue);

    /// <summary>
    /// A compare-and-set: write <paramref name="value"/> iff the key's version is <paramref name="expectedVersion"/>
    /// (<c>null</c>: iff the key is absent). <paramref name="newVersion"/> is the version created on success.
    /// </summary>
    public static Operation CompareAndSet(int clientId, string key, long? expectedVersion, string value, bool success, long invoke, long complete, long? newVersion = null) =>
        new(clientId, OpKind.CompareAndSet, key, value, expectedVersion, null, null, true, null, success ? newVersion : null, success, invoke, complete);

    /// <summary>A compare-and-set whose outcome is unknown.</summary>
    public static Operation CompareAndSetUnknown(int clientId, string key, long? expectedVersion, string value, long invoke) =>
        new(clientId, OpKind.CompareAndSet, key, value, expectedVersion, null, null, false, null, null, null, invoke, long.MaxValue);

    /// <summary>An acknowledged atomic batch: every key of <paramref name="set"/> set and every key of <paramref name="delete"/> deleted, at one version.</summary>
    public static Operation Batch(int clientId, IReadOnlyDictionary<string, string>? set, IReadOnlyList<string>? delete, long invoke, long complete, long? version = null) =>
        new(clientId, OpKind.Batch, string.Empty, null, null, set ?? new Dictionary<string, string>(), delete ?? [], true, null, version, null, invoke, complete);

    /// <summary>An atomic batch whose outcome is unknown.</summary>
    public static Operation BatchUnknown(int clientId, IReadOnlyDictionary<string, string>? set, IReadOnlyList<string>? delete, long invoke) =>
        new(clientId, OpKind.Batch, string.Empty, null, null, set ?? new Dictionary<string, string>(), delete ?? [], false, null, null, null, invoke, long.MaxValue);

    /// <summary>This operation with its outcome forgotten (as if the client had timed out).</summary>
    public Operation AsUnknown() => this with { Known = false, ReadValue = null, Version = null, Success = null, Complete = long.MaxValue };

    /// <summary>A one-line rendering without timestamps, e.g. <c>c3 write(k1, "a") -> ok @12</c>.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        sb.Append('c').Append(ClientId.ToString(CultureInfo.InvariantCulture)).Append(' ');
        switch (Kind)
        {
            case OpKind.Read:
                sb.Append("read(").Append(Key).Append(')');
                if (Known)
                {
                    sb.Append(" -> ").Append(ReadValue is null ? "absent" : Quote(ReadValue)).Append(FormatVersion(Version));
                }

                break;

            case OpKind.Write:
                sb.Append("write(").Append(Key).Append(", ").Append(Quote(Value)).Append(')');
                if (Known)
                {
                    sb.Append(" -> ok").Append(FormatVersion(Version));
                }

                break;

            case OpKind.Delete:
                sb.Append("delete(").Append(Key).Append(')');
                if (Known)
                {
                    sb.Append(" -> ").Append(Success == true ? "found" : "not found").Append(FormatVersion(Version));
                }

                break;

            case OpKind.CompareAndSet:
                sb.Append("cas(").Append(Key).Append(", expect ")
                    .Append(ExpectedVersion is { } expected ? "@" + expected.ToString(CultureInfo.InvariantCulture) : "absent")
                    .Append(", ").Append(Quote(Value)).Append(')');
                if (Known)
                {
                    sb.Append(" -> ").Append(Success == true ? "ok" + FormatVersion(Version) : "failed");
                }

                break;

            case OpKind.Batch:
                sb.Append("batch(set {");
                var first = true;
                foreach (var (key, value) in BatchSet ?? new Dictionary<string, string>())
                {
                    sb.Append(first ? string.Empty : ", ").Append(key).Append('=').Append(Quote(value));
                    first = false;
                }

                sb.Append("}, delete [").Append(string.Join(", ", BatchDelete ?? [])).Append("])");
                if (Known)
                {
                    sb.Append(" -> ok").Append(FormatVersion(Version));
                }

                break;
        }

        if (!Known)
        {
            sb.Append(" -> ? (outcome unknown)");
        }

        return sb.ToString();
    }

    /// <summary>
    /// <see cref="Describe"/> plus the real-time interval, relative to <paramref name="origin"/> (Stopwatch ticks).
    /// </summary>
    public string Describe(long origin)
    {
        var end = Known ? (Complete - origin).ToString(CultureInfo.InvariantCulture) : "inf";
        return string.Create(CultureInfo.InvariantCulture, $"{Describe()}   [{Invoke - origin} .. {end}]");
    }

    public override string ToString() => Describe();

    internal static string Quote(string? value) => value is null ? "null" : "\"" + value + "\"";

    private static string FormatVersion(long? version) =>
        version is { } v ? " @" + v.ToString(CultureInfo.InvariantCulture) : string.Empty;
}

/// <summary>The output of a completed operation (see the factories for each kind).</summary>
public readonly record struct OpResult(string? ReadValue, long? Version, bool? Success)
{
    public static OpResult ReadOk(string? value, long? version) => new(value, value is null ? null : version, null);

    public static OpResult Written(long? version) => new(null, version, null);

    public static OpResult Deleted(bool found, long? version = null) => new(null, found ? version : null, found);

    public static OpResult CompareAndSetDone(bool success, long? newVersion) => new(null, success ? newVersion : null, success);

    public static OpResult BatchApplied(long? version) => new(null, version, null);
}
