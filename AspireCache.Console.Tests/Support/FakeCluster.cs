using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Serialization.Metadata;
using AspireCache.Console.Services;

namespace AspireCache.Console.Tests.Support;

/// <summary>
/// An in-memory cluster behind both <see cref="IAspireCacheClient"/> and <see cref="IClusterApi"/>,
/// with the server's conditional-write rules (versions are revisions; a failed condition is a
/// <see cref="PreconditionFailedException"/> and changes nothing). <see cref="Put"/> is "another writer".
/// </summary>
public sealed class FakeCluster : IAspireCacheClient, IClusterApi
{
    private readonly SortedDictionary<string, (byte[] Value, long Version, DateTimeOffset? ExpiresAt, DateTimeOffset Modified)> _keys = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly List<WatchEvent> _log = [];
    private long _revision;

    /// <summary>The options of the last <see cref="SetAsync"/> (accepted or not).</summary>
    public SetOptions? LastSetOptions { get; private set; }

    /// <summary>Batches applied.</summary>
    public int Batches { get; private set; }

    /// <summary>Another writer: an unconditional write.</summary>
    public long Put(string key, string value, TimeSpan? ttl = null, string writer = "another-writer")
    {
        lock (_lock)
        {
            _revision++;
            _keys[key] = (Encoding.UTF8.GetBytes(value), _revision, ttl is { } t ? DateTimeOffset.UtcNow + t : null, DateTimeOffset.UtcNow);
            _log.Add(new WatchEvent(WatchEventType.Put, key, _revision, Encoding.UTF8.GetBytes(value)) { Writer = writer });
            return _revision;
        }
    }

    /// <summary>The name the fake records as the writer of the client's own writes.</summary>
    public string ClientWriter { get; set; } = "operator";

    public string? Value(string key)
    {
        lock (_lock)
        {
            return _keys.TryGetValue(key, out var entry) ? Encoding.UTF8.GetString(entry.Value) : null;
        }
    }

    public long? Version(string key)
    {
        lock (_lock)
        {
            return _keys.TryGetValue(key, out var entry) ? entry.Version : null;
        }
    }

    public Task<CacheItem?> GetAsync(string key, ReadOptions? options = null, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(_keys.TryGetValue(key, out var e) ? new CacheItem(key, e.Value, e.Version, e.ExpiresAt) : null);
        }
    }

    public Task<long> SetAsync(string key, ReadOnlyMemory<byte> value, SetOptions? options = null, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            LastSetOptions = options;
            var exists = _keys.TryGetValue(key, out var current);
            if ((options?.IfVersion is { } expected && (!exists || current.Version != expected)) || (options?.IfAbsent == true && exists))
            {
                throw new PreconditionFailedException("Precondition failed", "The key is not at the expected version.", key, exists ? current.Version : null);
            }

            _revision++;
            _keys[key] = (value.ToArray(), _revision, options?.Ttl is { } ttl ? DateTimeOffset.UtcNow + ttl : null, DateTimeOffset.UtcNow);
            _log.Add(new WatchEvent(WatchEventType.Put, key, _revision, value.ToArray()) { Writer = ClientWriter });
            return Task.FromResult(_revision);
        }
    }

    public Task<bool> DeleteAsync(string key, long? ifVersion = null, CallOptions? options = null, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (!_keys.TryGetValue(key, out var current))
            {
                return Task.FromResult(false);
            }

            if (ifVersion is { } expected && current.Version != expected)
            {
                throw new PreconditionFailedException("Precondition failed", null, key, current.Version);
            }

            _revision++;
            _keys.Remove(key);
            _log.Add(new WatchEvent(WatchEventType.Delete, key, _revision) { Writer = ClientWriter });
            return Task.FromResult(true);
        }
    }

    public Task<long> BatchAsync(IReadOnlyDictionary<string, ReadOnlyMemory<byte>>? sets, IReadOnlyCollection<string>? deletes = null, IReadOnlyDictionary<string, long>? conditions = null, CallOptions? options = null, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            foreach (var (key, version) in conditions ?? new Dictionary<string, long>())
            {
                var exists = _keys.TryGetValue(key, out var current);
                var holds = version switch
                {
                    0 => !exists,
                    -1 => exists,
                    _ => exists && current.Version == version,
                };
                if (!holds)
                {
                    throw new PreconditionFailedException("Precondition failed", $"'{key}' is not at version {version}.", null, null);
                }
            }

            _revision++;
            foreach (var (key, value) in sets ?? new Dictionary<string, ReadOnlyMemory<byte>>())
            {
                _keys[key] = (value.ToArray(), _revision, null, DateTimeOffset.UtcNow);
            }

            foreach (var key in deletes ?? [])
            {
                _keys.Remove(key);
            }

            Batches++;
            return Task.FromResult(_revision);
        }
    }

    public Task<ListResponse> ListPageAsync(string prefix, string? after = null, int? limit = null, bool values = true, ReadOptions? options = null, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            var page = _keys
                .Where(k => k.Key.StartsWith(prefix, StringComparison.Ordinal) && (after is null || string.CompareOrdinal(k.Key, after) > 0))
                .Take((limit ?? 100) + 1)
                .Select(k => new ListItem(k.Key, k.Value.Version, values ? Convert.ToBase64String(k.Value.Value) : null, k.Value.Value.Length, k.Value.ExpiresAt))
                .ToList();
            var more = page.Count > (limit ?? 100);
            if (more)
            {
                page.RemoveAt(page.Count - 1);
            }

            return Task.FromResult(new ListResponse(page, more ? page[^1].Key : null, _revision));
        }
    }

    public async IAsyncEnumerable<CacheItem> ListAsync(string prefix, int pageSize = 100, ReadOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string? after = null;
        do
        {
            var page = await ListPageAsync(prefix, after, pageSize, cancellationToken: cancellationToken);
            foreach (var item in page.Items)
            {
                yield return new CacheItem(item.Key, item.Value is null ? default : Convert.FromBase64String(item.Value), item.Version, item.ExpiresAt);
            }

            after = page.Next;
        }
        while (after is not null);
    }

    /// <summary>Replays the recorded changes after the resume point (the whole log is the history), then a progress at the current revision, then waits.</summary>
    public async IAsyncEnumerable<WatchEvent> WatchAsync(WatchRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        List<WatchEvent> replay;
        long current;
        lock (_lock)
        {
            replay = [.. _log.Where(e => e.Revision > (request.AfterRevision ?? _revision) && request.Prefixes.Any(p => e.Key.StartsWith(p, StringComparison.Ordinal)))];
            current = _revision;
        }

        foreach (var change in replay)
        {
            yield return change;
        }

        yield return new WatchEvent(WatchEventType.Progress, "", current);
        await Task.Delay(Timeout.Infinite, cancellationToken);
    }

    public Task<T?> GetJsonAsync<T>(string key, JsonTypeInfo<T> typeInfo, ReadOptions? options = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public Task<long> SetJsonAsync<T>(string key, T value, JsonTypeInfo<T> typeInfo, SetOptions? options = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public Task<CredentialCheck> CheckCredentialAsync(CancellationToken cancellationToken = default) => Task.FromResult(CredentialCheck.Accepted);

    public Task<KeyDetails?> GetKeyAsync(string key, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(_keys.TryGetValue(key, out var e) ? new KeyDetails(key, e.Value, e.Version, e.ExpiresAt, e.Modified, _revision, "node1") : null);
        }
    }

    public Task<HistoryStart> HistoryStartAsync(string prefix, CancellationToken cancellationToken = default) => Task.FromResult(new HistoryStart(0, _revision, "node1"));

    public Task<ClusterReport> ReportAsync(int hotKeys, CancellationToken cancellationToken = default) =>
        Task.FromResult(new ClusterReport(null, null, [], DateTimeOffset.UtcNow, null));
}
