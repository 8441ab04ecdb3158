using System.Diagnostics;
using System.Text;
using System.Text.Json;
using AspireCache.Client.Configuration;
using AspireCache.Client.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace AspireCache.Client.Tests;

/// <summary>builder.Configuration.AddAspireCache(...) against the real router: mapping, one-revision first load, reloads, failures.</summary>
[Collection(ClientClusterCollection.Name)]
public sealed class ConfigurationProviderTests(ClusterFixture fixture, ITestOutputHelper output) : IClassFixture<ClusterFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task The_first_load_maps_keys_to_sections_and_flattens_JSON_as_the_JSON_provider_does()
    {
        var client = fixture.NewClient();
        const string json = """
            {
              // comments and trailing commas, as in appsettings.json
              "Db": { "Timeout": 30, "Hosts": ["a", "b"], "Enabled": true, "Ratio": 1.50, "Empty": {}, "None": [], "Nothing": null, "Text": "x y", },
              "Top": [ { "Name": "n1" }, { "Name": "n2" } ]
            }
            """;
        await client.BatchAsync(new Dictionary<string, ReadOnlyMemory<byte>>
        {
            ["cfg-load/Db/Timeout"] = "30"u8.ToArray(),
            ["cfg-load/Db"] = "primary"u8.ToArray(), // a value and a parent: both kept
            ["cfg-load/Name"] = Encoding.UTF8.GetBytes("orders ✓"),
            ["cfg-load/json"] = Encoding.UTF8.GetBytes(json),
            ["cfg-load/app"] = """{"Db":{"Timeout":30,"Pool":5}}"""u8.ToArray(),
            ["cfg-load/app/Db/Timeout"] = "99"u8.ToArray(), // a key's own value wins over the JSON of a parent
            ["cfg-load/broken"] = "{not json"u8.ToArray(),
            ["cfg-load-other/x"] = "not under the prefix"u8.ToArray(),
        });
        var lastKnownGood = Path.Combine(Path.GetTempPath(), "aspirecache-tests", Guid.NewGuid().ToString("N"), "lkg.json");

        using var root = Build("cfg-load/", lastKnownGoodPath: lastKnownGood);

        Assert.Equal("30", root["Db:Timeout"]);
        Assert.Equal("primary", root["Db"]);
        Assert.Equal("orders ✓", root["Name"]);
        Assert.Equal("99", root["app:Db:Timeout"]);
        Assert.Equal("5", root["app:Db:Pool"]);
        Assert.Equal("{not json", root["broken"]);
        Assert.Null(root["x"]);
        Assert.Null(root["cfg-load-other:x"]);

        // The JSON value flattens exactly as Microsoft.Extensions.Configuration.Json flattens the same document.
        var reference = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var expected = reference.AsEnumerable().Select(p => KeyValuePair.Create("json:" + p.Key, p.Value)).OrderBy(p => p.Key, StringComparer.Ordinal);
        var actual = root.GetSection("json").AsEnumerable().Where(p => p.Key != "json").OrderBy(p => p.Key, StringComparer.Ordinal);
        Assert.Equal(expected, actual);
        Assert.Equal("True", root["json:Db:Enabled"]);
        Assert.Equal("1.50", root["json:Db:Ratio"]);
        Assert.Equal("n2", root["json:Top:1:Name"]);

        // The last-known-good file holds the loaded data.
        using var file = JsonDocument.Parse(File.ReadAllBytes(lastKnownGood));
        Assert.Equal("99", file.RootElement.GetProperty("data").GetProperty("app:Db:Timeout").GetString());
        Assert.Equal(Provider(root).Revision, file.RootElement.GetProperty("revision").GetInt64());
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(lastKnownGood)!, "*.tmp"));
    }

    [Fact]
    public async Task The_last_known_good_file_follows_later_changes_coalesced_and_is_current_after_dispose()
    {
        var client = fixture.NewClient();
        await client.SetAsync("cfg-lkg/n", "0"u8.ToArray());
        var lastKnownGood = Path.Combine(Path.GetTempPath(), "aspirecache-tests", Guid.NewGuid().ToString("N"), "lkg.json");
        var root = Build("cfg-lkg/", lastKnownGoodPath: lastKnownGood);
        for (var i = 1; i <= 10; i++)
        {
            await client.SetAsync("cfg-lkg/n", Encoding.UTF8.GetBytes($"{i}"));
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (root["n"] != "10")
        {
            Assert.True(DateTime.UtcNow < deadline, "the provider never saw the last change");
            await Task.Delay(10);
        }

        string FileValue() => JsonDocument.Parse(File.ReadAllBytes(lastKnownGood)).RootElement.GetProperty("data").GetProperty("n").GetString()!;
        while (FileValue() != "10")
        {
            Assert.True(DateTime.UtcNow < deadline, "the last-known-good file never caught up");
            await Task.Delay(50);
        }

        // A change followed at once by Dispose still reaches the file.
        await client.SetAsync("cfg-lkg/n", "11"u8.ToArray());
        while (root["n"] != "11")
        {
            Assert.True(DateTime.UtcNow < deadline, "the provider never saw the change");
            await Task.Delay(10);
        }

        ((IDisposable)root).Dispose();
        Assert.Equal("11", FileValue());
    }

    [Fact]
    public async Task A_multi_page_first_load_with_a_write_between_its_pages_is_the_state_at_one_revision()
    {
        var client = fixture.NewClient();
        // 1,002 keys: two pages of at most 1,000. "a" is on the first page, "zz" on the last.
        await client.BatchAsync(Enumerable.Range(0, 1000).ToDictionary(i => $"cfg-pages/m{i:D4}", _ => (ReadOnlyMemory<byte>)"m"u8.ToArray()));
        await client.BatchAsync(new Dictionary<string, ReadOnlyMemory<byte>> { ["cfg-pages/a"] = "1"u8.ToArray(), ["cfg-pages/zz"] = "1"u8.ToArray() });

        // After the first page is answered (a = 1), one batch changes both keys to 2, then a key
        // elsewhere is written: the second page (zz = 2) is at a later revision than the batch, and
        // no watched change follows, so only a requested progress event tells the provider that the
        // watch caught up (the periodic one comes after 10 s).
        var spy = new Spy(async request =>
        {
            if (request.Method == HttpMethod.Get && request.RequestUri!.PathAndQuery.StartsWith("/cache?prefix=cfg-pages", StringComparison.Ordinal) && !request.RequestUri.Query.Contains("after=", StringComparison.Ordinal))
            {
                await client.BatchAsync(new Dictionary<string, ReadOnlyMemory<byte>> { ["cfg-pages/a"] = "2"u8.ToArray(), ["cfg-pages/zz"] = "2"u8.ToArray() });
                await client.SetAsync("cfg-pages-elsewhere/x", "x"u8.ToArray());
            }
        });

        var watch = Stopwatch.StartNew();
        using var root = Build("cfg-pages/", configure: s => s.CreateHttpMessageHandler = () => spy);
        output.WriteLine($"multi-page first load: {watch.ElapsedMilliseconds} ms; requests: {string.Join(", ", spy.Requests.Select(r => r.Split('?')[0]).Distinct())}");

        Assert.Equal(2, spy.Requests.Count(r => r.StartsWith("GET /cache?prefix=cfg-pages", StringComparison.Ordinal)));
        Assert.Equal("2", root["a"]);
        Assert.Equal("2", root["zz"]);
        Assert.Equal(1002, root.AsEnumerable().Count(p => p.Value is not null && !p.Key.StartsWith("ConnectionStrings", StringComparison.Ordinal)));
        Assert.Contains(spy.Requests, r => r.StartsWith("POST /cache/watch/", StringComparison.Ordinal) && r.EndsWith("/progress", StringComparison.Ordinal));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"the first load took {watch.Elapsed}: it waited for a periodic progress");
    }

    [Fact]
    public async Task A_put_reaches_IOptionsMonitor_OnChange_within_milliseconds()
    {
        var client = fixture.NewClient();
        await client.SetAsync("cfg-put/Orders/Timeout", "1"u8.ToArray());
        using var configuration = new ConfigurationManager();
        configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:cache"] = fixture.ConnectionString });
        configuration.AddAspireCache("cache", prefix: "cfg-put/");
        using var services = Services(configuration);
        var monitor = services.GetRequiredService<IOptionsMonitor<OrderOptions>>();
        Assert.Equal(1, monitor.CurrentValue.Timeout);

        var timings = new List<double>();
        for (var i = 2; i <= 11; i++)
        {
            var changed = new TaskCompletionSource<(OrderOptions Options, long Ticks)>(TaskCreationOptions.RunContinuationsAsynchronously);
            using var listener = monitor.OnChange(o => changed.TrySetResult((o, Stopwatch.GetTimestamp())));
            var start = Stopwatch.GetTimestamp();
            await client.SetAsync("cfg-put/Orders/Timeout", Encoding.UTF8.GetBytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            var (options, at) = await changed.Task.WaitAsync(Wait);
            Assert.Equal(i, options.Timeout);
            timings.Add(Stopwatch.GetElapsedTime(start, at).TotalMilliseconds);
        }

        var message = $"PUT → IOptionsMonitor.OnChange: {string.Join(", ", timings.Select(t => t.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)))} ms (median {timings.Order().ElementAt(timings.Count / 2):0.0} ms)";
        output.WriteLine(message);
        Console.WriteLine(message);
        Assert.True(timings.Order().ElementAt(timings.Count / 2) < 1000, message);
    }

    [Fact]
    public async Task A_batch_of_three_keys_is_one_reload_and_the_options_see_all_three_at_once()
    {
        var client = fixture.NewClient();
        await client.BatchAsync(new Dictionary<string, ReadOnlyMemory<byte>>
        {
            ["cfg-batch/Orders/Timeout"] = "1"u8.ToArray(),
            ["cfg-batch/Orders/Retries"] = "1"u8.ToArray(),
            ["cfg-batch/Orders/Name"] = "one"u8.ToArray(),
        });
        using var root = Build("cfg-batch/");
        using var services = Services(root);
        var monitor = services.GetRequiredService<IOptionsMonitor<OrderOptions>>();
        Assert.Equal((1, 1, "one"), (monitor.CurrentValue.Timeout, monitor.CurrentValue.Retries, monitor.CurrentValue.Name));

        var seen = new List<(int, int, string?)>();
        var reloads = 0;
        using var tokenRegistration = ChangeToken(root, () => Interlocked.Increment(ref reloads));
        using var listener = monitor.OnChange(o =>
        {
            lock (seen)
            {
                seen.Add((o.Timeout, o.Retries, o.Name));
            }
        });

        for (var round = 2; round <= 6; round++)
        {
            var text = round.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await client.BatchAsync(new Dictionary<string, ReadOnlyMemory<byte>>
            {
                ["cfg-batch/Orders/Timeout"] = Encoding.UTF8.GetBytes(text),
                ["cfg-batch/Orders/Retries"] = Encoding.UTF8.GetBytes(text),
                ["cfg-batch/Orders/Name"] = Encoding.UTF8.GetBytes("n" + text),
            });
            await WaitUntilAsync(() => root["Orders:Name"] == "n" + text);
        }

        await Task.Delay(300); // a late second reload would show here
        Assert.Equal(5, Volatile.Read(ref reloads));
        lock (seen)
        {
            Assert.Equal(Enumerable.Range(2, 5).Select(i => (i, i, (string?)("n" + i))), seen);
        }
    }

    [Fact]
    public async Task The_same_value_written_again_does_not_reload_and_a_delete_removes_the_key()
    {
        var client = fixture.NewClient();
        await client.SetAsync("cfg-same/Orders/Timeout", "7"u8.ToArray());
        await client.SetAsync("cfg-same/Orders/Name", "keep"u8.ToArray());
        using var root = Build("cfg-same/");
        var reloads = 0;
        using var registration = ChangeToken(root, () => Interlocked.Increment(ref reloads));

        // Same value (a new version of the key), then a marker change: once the marker is seen, the
        // same-value put (an earlier revision) was applied too.
        await client.SetAsync("cfg-same/Orders/Timeout", "7"u8.ToArray());
        await client.SetAsync("cfg-same/Marker", "1"u8.ToArray());
        await WaitUntilAsync(() => root["Marker"] == "1");
        await Task.Delay(200);
        Assert.Equal(1, Volatile.Read(ref reloads));

        // A delete of an absent key changes nothing either.
        await client.DeleteAsync("cfg-same/Absent");
        Assert.True(await client.DeleteAsync("cfg-same/Orders/Name"));
        await WaitUntilAsync(() => root["Orders:Name"] is null);
        await Task.Delay(200);
        Assert.Equal(2, Volatile.Read(ref reloads));
        Assert.Equal("7", root["Orders:Timeout"]);

        // A key with a TTL goes away when it expires.
        await client.SetAsync("cfg-same/Short", "s"u8.ToArray(), new SetOptions { Ttl = TimeSpan.FromMilliseconds(300) });
        await WaitUntilAsync(() => root["Short"] == "s");
        await WaitUntilAsync(() => root["Short"] is null);
    }

    [Fact]
    public async Task Disposal_stops_the_background_watch()
    {
        var client = fixture.NewClient();
        await client.SetAsync("cfg-dispose/Value", "1"u8.ToArray());
        var spy = new Spy(_ => Task.CompletedTask);
        var root = Build("cfg-dispose/", configure: s => s.CreateHttpMessageHandler = () => spy);
        var provider = Provider(root);
        await client.SetAsync("cfg-dispose/Value", "2"u8.ToArray());
        await WaitUntilAsync(() => root["Value"] == "2");

        var reloads = 0;
        using var registration = ChangeToken(root, () => Interlocked.Increment(ref reloads));
        var watch = Stopwatch.StartNew();
        root.Dispose();
        output.WriteLine($"dispose: {watch.ElapsedMilliseconds} ms");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5));
        await WaitUntilAsync(() => spy.Open == 0);

        await client.SetAsync("cfg-dispose/Value", "3"u8.ToArray());
        await Task.Delay(500);
        Assert.True(provider.TryGet("Value", out var value));
        Assert.Equal("2", value);
        Assert.Equal(0, Volatile.Read(ref reloads));
    }

    [Fact]
    public void An_unreachable_cluster_is_a_clear_error_by_default()
    {
        var watch = Stopwatch.StartNew();
        var error = Assert.Throws<InvalidOperationException>(() => Build("cfg-down/", endpoint: "http://127.0.0.1:1/", configure: s => s.Deadline = TimeSpan.FromSeconds(1)));
        output.WriteLine($"{watch.ElapsedMilliseconds} ms: {error.Message}");
        Assert.Contains("http://127.0.0.1:1/", error.Message);
        Assert.Contains("cfg-down/", error.Message);
        Assert.NotNull(error.InnerException);
        Assert.Contains(error.InnerException!.Message, error.Message);

        var missing = Assert.Throws<InvalidOperationException>(() => new ConfigurationBuilder().AddAspireCache("nothing", "p/"));
        Assert.Contains("ConnectionStrings:nothing", missing.Message);
    }

    [Fact]
    public void Optional_with_an_unreachable_cluster_starts_empty_or_from_the_last_known_good_file()
    {
        var errors = new List<Exception>();
        using (var empty = Build("cfg-down/", endpoint: "http://127.0.0.1:1/", optional: true, configure: s => s.Deadline = TimeSpan.FromSeconds(1)))
        {
            Assert.Empty(Provider(empty).GetChildKeys([], null));
        }

        var lastKnownGood = Path.Combine(Path.GetTempPath(), "aspirecache-tests", Guid.NewGuid().ToString("N"), "lkg.json");
        Directory.CreateDirectory(Path.GetDirectoryName(lastKnownGood)!);
        File.WriteAllText(lastKnownGood, """{"revision":5,"data":{"Orders:Timeout":"42","Orders:Name":"saved","Empty":null}}""");
        using var root = Build("cfg-down/", endpoint: "http://127.0.0.1:1/", optional: true, lastKnownGoodPath: lastKnownGood, configure: s =>
        {
            s.Deadline = TimeSpan.FromSeconds(1);
            s.OnError = e => { lock (errors) { errors.Add(e); } };
        });
        Assert.Equal("42", root["Orders:Timeout"]);
        Assert.Equal("saved", root["Orders:Name"]);
        Assert.Null(Provider(root).Revision);
    }

    [Fact]
    public async Task Optional_starts_empty_while_the_cluster_is_unreachable_then_loads_and_reloads_when_it_answers()
    {
        var client = fixture.NewClient();
        await client.SetAsync("cfg-late/Orders/Timeout", "5"u8.ToArray());
        var gate = new Spy(_ => Task.CompletedTask) { Closed = true };
        var lastKnownGood = Path.Combine(Path.GetTempPath(), "aspirecache-tests", Guid.NewGuid().ToString("N"), "lkg.json");
        using var root = Build("cfg-late/", optional: true, lastKnownGoodPath: lastKnownGood, configure: s =>
        {
            s.Deadline = TimeSpan.FromSeconds(1);
            s.CreateHttpMessageHandler = () => gate;
        });
        Assert.Null(root["Orders:Timeout"]);
        Assert.False(File.Exists(lastKnownGood));

        var reloaded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = ChangeToken(root, () => reloaded.TrySetResult());
        gate.Closed = false;
        await reloaded.Task.WaitAsync(Wait);
        Assert.Equal("5", root["Orders:Timeout"]);
        await WaitUntilAsync(() => File.Exists(lastKnownGood)); // written right after the reload

        await client.SetAsync("cfg-late/Orders/Timeout", "6"u8.ToArray());
        await WaitUntilAsync(() => root["Orders:Timeout"] == "6");
    }

    private ConfigurationRoot Build(string prefix, string? endpoint = null, bool optional = false, string? lastKnownGoodPath = null, Action<AspireCacheConfigurationSource>? configure = null) =>
        (ConfigurationRoot)new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:cache"] = $"Endpoint={endpoint ?? fixture.Router.Url.ToString()};Key={fixture.Cluster.Credential}" })
            .AddAspireCache("cache", prefix, optional, lastKnownGoodPath, configure)
            .Build();

    private static ServiceProvider Services(IConfiguration configuration)
    {
        var services = new ServiceCollection();
        services.Configure<OrderOptions>(configuration.GetSection("Orders"));
        return services.BuildServiceProvider();
    }

    private static AspireCacheConfigurationProvider Provider(IConfigurationRoot root) => root.Providers.OfType<AspireCacheConfigurationProvider>().Single();

    private static IDisposable ChangeToken(IConfiguration configuration, Action callback) =>
        Microsoft.Extensions.Primitives.ChangeToken.OnChange(configuration.GetReloadToken, callback);

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(10);
        }
    }

    public sealed class OrderOptions
    {
        public int Timeout { get; set; }

        public int Retries { get; set; }

        public string? Name { get; set; }
    }

    /// <summary>The provider's HTTP handler: records requests, runs a hook after each answer, counts open watch responses, and can refuse connections.</summary>
    private sealed class Spy(Func<HttpRequestMessage, Task> after) : DelegatingHandler(new SocketsHttpHandler())
    {
        private int _open;

        public List<string> Requests { get; } = [];

        public volatile bool Closed;

        public int Open => Volatile.Read(ref _open);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (Closed)
            {
                throw new HttpRequestException("Connection refused (test gate closed)");
            }

            lock (Requests)
            {
                Requests.Add($"{request.Method} {request.RequestUri!.PathAndQuery}");
            }

            var response = await base.SendAsync(request, cancellationToken);
            await after(request);
            if (request.RequestUri!.AbsolutePath == "/cache/watch" && response.IsSuccessStatusCode)
            {
                Interlocked.Increment(ref _open);
                response.Content = new Counted(response.Content, () => Interlocked.Decrement(ref _open));
            }

            return response;
        }
    }

    /// <summary>Content that reports when it is disposed (the watch's connection released).</summary>
    private sealed class Counted(HttpContent inner, Action disposed) : HttpContent
    {
        private int _disposed;

        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) => inner.CopyToAsync(stream);

        protected override Task<Stream> CreateContentReadStreamAsync() => inner.ReadAsStreamAsync();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                inner.Dispose();
                disposed();
            }

            base.Dispose(disposing);
        }
    }
}
