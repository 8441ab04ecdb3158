using System.Text.Json;
using Microsoft.Extensions.Configuration;

namespace AspireCache.Client.Configuration;

/// <summary>
/// The configuration provider of <see cref="AspireCacheConfigurationSource"/>: the keys under a
/// prefix, loaded at one revision and then kept current by a watch.
/// </summary>
/// <remarks>
/// <para><b>Mapping.</b> A key's configuration path is the key without the prefix (and without a
/// leading <c>/</c> left after it), <c>/</c> replaced by <c>:</c>: <c>config/orders/Db/Timeout</c> →
/// <c>Db:Timeout</c>. A value whose first character (after white space) is <c>{</c> or <c>[</c>
/// and that parses as JSON is flattened exactly as Microsoft.Extensions.Configuration.Json
/// flattens appsettings.json, under the key's path: <c>{"Db":{"Timeout":30}}</c> at
/// <c>config/orders/app</c> → <c>app:Db:Timeout</c> = <c>"30"</c> (arrays by index, <c>true</c> →
/// <c>"True"</c>, <c>null</c> and an empty object → a null value, an empty array → <c>""</c>, as in .NET 10;
/// comments and trailing commas allowed; a test compares the result with the JSON provider's).
/// Any other value (invalid JSON included) is its UTF-8 text as is. A JSON object stored at the
/// prefix itself is flattened at the root; a plain value there has no name and is ignored.</para>
/// <para><b>A path that is both a value and a parent</b> (<c>Db</c> = <c>x</c> and
/// <c>Db/Timeout</c> = <c>30</c>) keeps both, as configuration allows: <c>config["Db"]</c> is
/// <c>x</c>, <c>config["Db:Timeout"]</c> is <c>30</c>; binding <c>Db</c> to an object uses its
/// children. When two keys yield the same path (a key <c>app/Db/Timeout</c> and a JSON value at
/// <c>app</c> with <c>Db.Timeout</c>; or keys differing only in case, since configuration paths
/// are case-insensitive), a key's own value wins over a value flattened from JSON, and otherwise
/// the ordinally greater key wins: the result depends on the state only, never on the order in
/// which changes arrived.</para>
/// <para><b>First load, at one revision.</b> The prefix is listed page by page (linearizable;
/// each page has its own revision R1 ≤ … ≤ Rn), then watched from R1, the first page's revision:
/// every change after R1 is applied over the listing, in order. A key's listed value is its value
/// at some Ri ≥ R1, and any change to it after R1 is replayed, so once the watch has delivered
/// every change up to a revision X ≥ Rn the data is exactly the state at X. The watch's opening
/// progress event already says so when there was one page (X = R1 = Rn); otherwise the provider asks
/// the stream's node for a leader-confirmed progress event (a fresh revision, so ≥ Rn) and waits for
/// it or for any change at or above Rn. Only then is the data published.</para>
/// <para><b>Reloads.</b> The watch hands out the changes of one revision together; they are all
/// applied, the data rebuilt, and the reload token fired once, and only if the data changed (a
/// put of the same value, or of a key another key overrides, fires nothing). Deletes, expiries
/// and evictions remove the key. A resync (the server's history no longer reached the watch's
/// resume point) is staged like the first load and replaces the data at once. The data dictionary
/// is swapped, never modified in place: a reader sees either the old or the new state.</para>
/// <para><b>Failures.</b> When the watch fails for a whole deadline the provider resumes it from the
/// last revision it applied, with backoff, for as long as it lives. Disposal stops it.</para>
/// </remarks>
public sealed class AspireCacheConfigurationProvider : ConfigurationProvider, IDisposable
{
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromSeconds(1);

    private readonly AspireCacheConfigurationSource _source;
    private readonly string _prefix;
    private readonly HttpClient? _http;
    private readonly AspireCacheClient? _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstLoad = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private Task? _loop;
    private int _disposed;
    private bool _loadReturned;

    // Owned by the background loop.
    private SortedDictionary<string, MappedEntry[]> _state = new(StringComparer.Ordinal);
    private long? _revision;

    /// <summary>Creates the provider (the watch starts at <see cref="Load"/>).</summary>
    /// <param name="source">The source's settings.</param>
    public AspireCacheConfigurationProvider(AspireCacheConfigurationSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        _source = source;
        _prefix = source.Prefix ?? "";
        if (source.Endpoint is { } endpoint)
        {
            _http = new HttpClient(source.CreateHttpMessageHandler?.Invoke() ?? new SocketsHttpHandler(), disposeHandler: true)
            {
                BaseAddress = endpoint,
                Timeout = Timeout.InfiniteTimeSpan,
            };
            _client = new AspireCacheClient(_http, new AspireCacheClientOptions
            {
                Deadline = source.Deadline,
                Credential = source.Key,
                // Node URLs may not be reachable from the app; the router follows the leader itself.
                FollowLeaderUrl = false,
            });
        }
    }

    /// <summary>The revision the data reflects (null before the first successful load).</summary>
    public long? Revision
    {
        get
        {
            lock (_gate)
            {
                return _revision;
            }
        }
    }

    /// <summary>
    /// The first call loads the keys (at one revision) and starts the watch; later calls
    /// (<c>IConfigurationRoot.Reload()</c>) change nothing: the watch keeps the data current.
    /// </summary>
    /// <exception cref="InvalidOperationException">The first load failed and the source is not optional (the message names the endpoint and the cause).</exception>
    public override void Load()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_loop is not null)
        {
            return;
        }

        if (_client is null)
        {
            // Optional without an endpoint: whatever was last known, nothing to watch.
            LoadLastKnownGood();
            return;
        }

        _loop = Task.Run(() => RunAsync(_stop.Token));
        Exception? failure = null;
        try
        {
            if (!_firstLoad.Task.Wait(_source.StartupTimeout))
            {
                failure = new TimeoutException($"The first load did not complete within {_source.StartupTimeout.TotalSeconds:0.#} s.");
            }
        }
        catch (AggregateException ex)
        {
            failure = ex.InnerException ?? ex;
        }

        lock (_gate)
        {
            _loadReturned = true;
        }

        if (failure is null)
        {
            return;
        }

        if (!_source.Optional)
        {
            _stop.Cancel();
            throw new InvalidOperationException(
                $"AspireCache configuration '{_source.ConnectionName}': could not load the keys under '{_prefix}' from {_source.Endpoint}: {failure.Message}",
                failure);
        }

        LoadLastKnownGood();
    }

    /// <summary>Stops the background watch and releases its connection.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stop.Cancel();
        try
        {
            _loop?.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The loop ends by cancellation.
        }

        // A change still waiting for its coalesced write is written now.
        FlushLastKnownGood();

        _http?.Dispose();
    }

    /// <inheritdoc />
    public override string ToString() => $"{nameof(AspireCacheConfigurationProvider)} ({_source.Endpoint}, prefix '{_prefix}')";

    private async Task RunAsync(CancellationToken token)
    {
        var failures = 0;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await SyncAsync(token).ConfigureAwait(false);
                failures = 0;
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                if (_firstLoad.TrySetException(ex) && !_source.Optional)
                {
                    return; // Load throws; nothing to keep current.
                }

                Report(ex);
                failures++;
                var delay = TimeSpan.FromTicks(Math.Min(FirstRetryDelay.Ticks << Math.Min(failures - 1, 10), _source.MaxRetryDelay.Ticks));
                try
                {
                    await Task.Delay(delay, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>
    /// Loads (or resumes) and follows the watch until it fails. State staged (first load, resync)
    /// is published only once the watch has delivered every change up to its target revision.
    /// </summary>
    private async Task SyncAsync(CancellationToken token)
    {
        Staging? staging = null;
        long after;
        if (_revision is { } resume)
        {
            after = resume;
        }
        else
        {
            (staging, after) = await ListAsync(token).ConfigureAwait(false);
        }

        var request = new WatchRequest { Prefixes = [_prefix], AfterRevision = after };
        string? askedStream = null;
        await foreach (var batch in _client!.WatchBatchesAsync(request, token).ConfigureAwait(false))
        {
            var first = batch.Events[0];
            if (first.Type == WatchEventType.Resync)
            {
                // What we knew is void: stage the listed state, publish it at one revision.
                staging = new Staging(new SortedDictionary<string, MappedEntry[]>(StringComparer.Ordinal), Target: null);
                askedStream = null;
                continue;
            }

            if (staging is { Target: null })
            {
                // Inside a resync listing: its puts, then a progress naming the highest page revision.
                if (first.Type == WatchEventType.Progress)
                {
                    staging = staging with { Target = batch.ListedThrough ?? batch.Revision };
                }
                else
                {
                    Apply(staging.State, batch.Events);
                    continue;
                }
            }
            else if (first.Type != WatchEventType.Progress)
            {
                Apply(staging?.State ?? _state, batch.Events);
            }

            if (staging is null)
            {
                if (first.Type == WatchEventType.Progress)
                {
                    lock (_gate)
                    {
                        _revision = batch.Revision;
                    }
                }
                else
                {
                    Publish(batch.Revision);
                }

                continue;
            }

            if (batch.Revision >= staging.Target)
            {
                _state = staging.State;
                staging = null;
                Publish(batch.Revision);
                continue;
            }

            if (first.Type == WatchEventType.Progress && batch.StreamId is { } stream && stream != askedStream)
            {
                // Behind the target on a new stream: ask its node for a fresh leader-confirmed
                // revision (≥ the target); the periodic progress remains if this fails.
                askedStream = stream;
                _ = _client.RequestWatchProgressAsync(stream, batch.Node, token);
            }
        }
    }

    /// <summary>Lists the prefix: the staged state (to reach the last page's revision) and the first page's revision (where the watch starts).</summary>
    private async Task<(Staging Staging, long After)> ListAsync(CancellationToken token)
    {
        var state = new SortedDictionary<string, MappedEntry[]>(StringComparer.Ordinal);
        var read = new ReadOptions { Consistency = Consistency.Linearizable };
        long? first = null;
        long last = 0;
        string? after = null;
        do
        {
            var page = await _client!.ListPageAsync(_prefix, after, limit: 1000, values: true, read, token).ConfigureAwait(false);
            first ??= page.Revision;
            last = Math.Max(last, page.Revision);
            foreach (var item in page.Items)
            {
                var value = item.Value is null ? ReadOnlyMemory<byte>.Empty : Convert.FromBase64String(item.Value);
                state[item.Key] = ConfigurationKeyMapper.Map(_prefix, item.Key, value);
            }

            after = page.Next;
        }
        while (after is not null);

        return (new Staging(state, last), first!.Value);
    }

    private void Apply(SortedDictionary<string, MappedEntry[]> state, IReadOnlyList<WatchEvent> events)
    {
        foreach (var change in events)
        {
            switch (change.Type)
            {
                case WatchEventType.Put:
                    state[change.Key] = ConfigurationKeyMapper.Map(_prefix, change.Key, change.Value ?? ReadOnlyMemory<byte>.Empty);
                    break;
                case WatchEventType.Delete or WatchEventType.Expire or WatchEventType.Evict:
                    state.Remove(change.Key);
                    break;
            }
        }
    }

    /// <summary>Rebuilds the data from the state; swaps it in and fires one reload if it changed.</summary>
    private void Publish(long revision)
    {
        var data = ConfigurationKeyMapper.Build(_state.Values);
        bool changed, reload, firstLoad;
        lock (_gate)
        {
            if (_stop.IsCancellationRequested)
            {
                return;
            }

            firstLoad = _revision is null;
            changed = !ConfigurationKeyMapper.SameData(Data, data);
            if (changed)
            {
                Data = data;
            }

            _revision = revision;
            // While Load() waits for this first load, the configuration reads Data when it returns.
            reload = changed && _loadReturned;
        }

        if (firstLoad)
        {
            // The first load's file exists by the time Load() returns; later ones follow the reload.
            WriteLastKnownGood(data, revision);
        }

        _firstLoad.TrySetResult();
        if (reload)
        {
            try
            {
                OnReload();
            }
            catch (Exception ex)
            {
                // A change callback threw: the data is in place, the watch goes on.
                Report(ex);
            }
        }

        if (changed && !firstLoad)
        {
            ScheduleLastKnownGood(data, revision);
        }
    }

    /// <summary>Later changes reach the file at most once per <see cref="LastKnownGoodDelay"/> (the newest state; one fsync however many changes).</summary>
    private void ScheduleLastKnownGood(Dictionary<string, string?> data, long revision)
    {
        if (_source.LastKnownGoodPath is null)
        {
            return;
        }

        lock (_lastKnownGoodGate)
        {
            var scheduled = _pendingLastKnownGood is not null;
            _pendingLastKnownGood = (data, revision);
            if (scheduled)
            {
                return;
            }
        }

        _ = Task.Run(async () =>
        {
            await Task.Delay(LastKnownGoodDelay, _stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            FlushLastKnownGood();
        });
    }

    private void FlushLastKnownGood()
    {
        // One writer at a time: a flush that finds nothing pending still waits for a write in progress.
        lock (_lastKnownGoodWriter)
        {
            (Dictionary<string, string?> Data, long Revision)? pending;
            lock (_lastKnownGoodGate)
            {
                pending = _pendingLastKnownGood;
                _pendingLastKnownGood = null;
            }

            if (pending is { } p)
            {
                WriteLastKnownGood(p.Data, p.Revision);
            }
        }
    }

    private readonly Lock _lastKnownGoodWriter = new();

    /// <summary>How long a change waits before the last-known-good file is rewritten (changes within it share one write).</summary>
    internal static readonly TimeSpan LastKnownGoodDelay = TimeSpan.FromMilliseconds(500);

    private readonly Lock _lastKnownGoodGate = new();
    private (Dictionary<string, string?> Data, long Revision)? _pendingLastKnownGood;

    private void LoadLastKnownGood()
    {
        if (_source.LastKnownGoodPath is not { } path || !File.Exists(path))
        {
            return;
        }

        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            if (document.RootElement.TryGetProperty("data", out var entries) && entries.ValueKind == JsonValueKind.Object)
            {
                foreach (var entry in entries.EnumerateObject())
                {
                    data[entry.Name] = entry.Value.ValueKind == JsonValueKind.Null ? null : entry.Value.GetString();
                }
            }

            lock (_gate)
            {
                if (_revision is null)
                {
                    Data = data;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException)
        {
            Report(new InvalidOperationException($"The last-known-good file '{path}' could not be read: {ex.Message}", ex));
        }
    }

    private void WriteLastKnownGood(Dictionary<string, string?> data, long revision)
    {
        if (_source.LastKnownGoodPath is not { } path)
        {
            return;
        }

        var temporary = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            if (Path.GetDirectoryName(Path.GetFullPath(path)) is { Length: > 0 } directory)
            {
                Directory.CreateDirectory(directory);
            }

            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                writer.WriteStartObject();
                writer.WriteString("endpoint", _source.Endpoint?.ToString());
                writer.WriteString("prefix", _prefix);
                writer.WriteNumber("revision", revision);
                writer.WriteString("writtenAt", DateTimeOffset.UtcNow);
                writer.WriteStartObject("data");
                foreach (var (key, value) in data.OrderBy(p => p.Key, StringComparer.OrdinalIgnoreCase))
                {
                    writer.WriteString(key, value);
                }

                writer.WriteEndObject();
                writer.WriteEndObject();
                writer.Flush();
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Report(new InvalidOperationException($"The last-known-good file '{path}' could not be written: {ex.Message}", ex));
            try
            {
                File.Delete(temporary);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
                // Left behind; harmless.
            }
        }
    }

    private void Report(Exception ex)
    {
        try
        {
            _source.OnError?.Invoke(ex);
        }
        catch (Exception)
        {
            // The callback's own failure must not stop the watch.
        }
    }

    /// <summary>A state being built (first load, resync): published once the watch reached <see cref="Target"/> (null while a resync listing is still arriving).</summary>
    private sealed record Staging(SortedDictionary<string, MappedEntry[]> State, long? Target);
}
