using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AspireCache.Tests.Watch;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// A cluster with client authentication on (<c>Auth:Credentials</c>) and the router in front of it
/// with its own credential. Every node checks credentials itself; logs of every node and the router
/// are captured at Trace level so that no key can hide in them.
/// </summary>
public sealed class AuthClusterFixture : IAsyncLifetime
{
    public static readonly string AdminKey = NewKey();
    public static readonly string ReaderKey = NewKey();
    public static readonly string AppWriterKey = NewKey();
    public static readonly string AppWriterNextKey = NewKey(); // a rotation: a second key of the same credential
    public static readonly string RouterKey = NewKey();

    /// <summary>Every category at Trace: request logging, HttpClient headers (redacted?), YARP.</summary>
    private static readonly Dictionary<string, string?> TraceEverything = new()
    {
        ["Logging:LogLevel:Default"] = "Trace",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
        ["Logging:LogLevel:System.Net.Http.HttpClient"] = "Trace",
        ["Logging:LogLevel:Yarp"] = "Trace",
    };

    public CapturingLoggerProvider Logs { get; } = new();

    public InProcessCluster Cluster { get; private set; } = null!;

    public InProcessRouter Router { get; private set; } = null!;

    public static IReadOnlyList<string> AllKeys => [AdminKey, ReaderKey, AppWriterKey, AppWriterNextKey, RouterKey];

    public static Dictionary<string, string?> AuthSettings() => new()
    {
        ["Auth:Credentials:0:Name"] = "ops",
        ["Auth:Credentials:0:Key"] = AdminKey,
        ["Auth:Credentials:0:Scopes:0"] = "admin",
        ["Auth:Credentials:1:Name"] = "dashboard",
        ["Auth:Credentials:1:Key"] = ReaderKey,
        ["Auth:Credentials:1:Scopes:0"] = "read",
        ["Auth:Credentials:2:Name"] = "app-writer",
        ["Auth:Credentials:2:Key"] = AppWriterKey,
        ["Auth:Credentials:2:Scopes:0"] = "read,write",
        ["Auth:Credentials:2:Prefixes:0"] = "app/",
        ["Auth:Credentials:3:Name"] = "app-writer",
        ["Auth:Credentials:3:Key"] = AppWriterNextKey,
        ["Auth:Credentials:3:Scopes:0"] = "read",
        ["Auth:Credentials:3:Scopes:1"] = "write",
        ["Auth:Credentials:3:Prefixes:0"] = "app/",
        ["Auth:Credentials:4:Name"] = "router",
        ["Auth:Credentials:4:Key"] = RouterKey,
        ["Auth:Credentials:4:Scopes:0"] = "read",
    };

    public async Task InitializeAsync()
    {
        var settings = AuthSettings();
        foreach (var (category, level) in TraceEverything)
        {
            settings[category] = level;
        }

        Cluster = await InProcessCluster.StartAsync(settings, credential: AdminKey, configureNode: CaptureLogs);
        Router = await InProcessRouter.StartAsync(
            Cluster,
            new Dictionary<string, string?>(TraceEverything) { ["Router:Credential"] = RouterKey },
            CaptureLogs);
    }

    public async Task DisposeAsync()
    {
        await Router.DisposeAsync();
        await Cluster.DisposeAsync();
    }

    public HttpClient Node(int index, string? key)
    {
        var client = new HttpClient { BaseAddress = Cluster.Urls[index], Timeout = TimeSpan.FromSeconds(30) };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return client;
    }

    public HttpClient ThroughRouter(string? key) => Router.Client(key);

    private void CaptureLogs(WebApplicationBuilder builder)
    {
        builder.Logging.AddProvider(Logs);
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
    }

    private static string NewKey() => RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 32);
}

/// <summary>Client authentication and scopes, enforced by the nodes and carried through the router.</summary>
public sealed class AuthTests(AuthClusterFixture fixture) : IClassFixture<AuthClusterFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Health_and_alive_are_anonymous()
    {
        for (var i = 0; i < 3; i++)
        {
            using var anonymous = fixture.Node(i, key: null);
            Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/alive")).StatusCode);
        }
    }

    [Theory]
    [InlineData(null)]
    [InlineData("wrong-key-0123456789abcdefghij")]
    [InlineData("Basic")]
    public async Task Every_client_endpoint_refuses_a_missing_or_wrong_credential_with_401_and_changes_nothing(string? credential)
    {
        var leader = await fixture.Cluster.WaitForLeaderAsync(Timeout);
        using var admin = fixture.Node(leader, AuthClusterFixture.AdminKey);
        var before = (await admin.GetFromJsonAsync<ClusterStatusResponse>("/cluster/status"))!.Revision;
        var key = $"app/refused-{Guid.NewGuid():N}";

        using var client = fixture.Node(leader, null);
        if (credential == "Basic")
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"u:{AuthClusterFixture.AdminKey}")));
        }
        else if (credential is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        }

        HttpRequestMessage[] requests =
        [
            new(HttpMethod.Get, $"/cache/{key}"),
            new(HttpMethod.Put, $"/cache/{key}") { Content = new StringContent("x") },
            new(HttpMethod.Delete, $"/cache/{key}"),
            new(HttpMethod.Post, "/cache/batch") { Content = Json($$$"""{"set":{"{{{key}}}":"eA=="}}""") },
            new(HttpMethod.Get, "/cache?prefix=app/"),
            new(HttpMethod.Get, "/cache/watch?prefix=app/"),
            new(HttpMethod.Post, "/cache/watch/node1.x-1/progress"),
            new(HttpMethod.Get, "/cache/hot"),
            new(HttpMethod.Post, "/cache/hot") { Content = Json("""{"keys":{"app/a":1}}""") },
            new(HttpMethod.Get, "/cluster/status"),
            new(HttpMethod.Get, "/cluster/watch?waitMs=0"),
            new(HttpMethod.Post, "/admin/snapshot"),
            new(HttpMethod.Post, "/admin/step-down"),
            new(HttpMethod.Post, "/admin/barrier"),
        ];
        foreach (var request in requests)
        {
            using var response = await client.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{request.Method} {request.RequestUri}: {(int)response.StatusCode}");
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(ProblemTypes.Base + "unauthenticated", problem.GetProperty("type").GetString());
            Assert.Equal(401, problem.GetProperty("status").GetInt32());
            var body = problem.GetRawText();
            Assert.All(AuthClusterFixture.AllKeys, k => Assert.DoesNotContain(k, body, StringComparison.Ordinal));
        }

        Assert.Equal(before, (await admin.GetFromJsonAsync<ClusterStatusResponse>("/cluster/status"))!.Revision);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/cache/{key}")).StatusCode);
    }

    [Fact]
    public async Task Different_keys_on_one_keep_alive_connection_are_each_checked()
    {
        // Kestrel reuses a repeated header's string on a connection, and the node remembers the last
        // credential per connection by that string: changing the key must change the answer.
        var leader = await fixture.Cluster.WaitForLeaderAsync(Timeout);
        using var client = fixture.Node(leader, null);
        async Task<HttpStatusCode> PutAsync(string? key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Put, "/cache/app/connection-cache") { Content = new StringContent("x") };
            if (key is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            }

            using var response = await client.SendAsync(request);
            return response.StatusCode;
        }

        for (var i = 0; i < 3; i++)
        {
            Assert.True((await PutAsync(AuthClusterFixture.AppWriterKey)) is HttpStatusCode.OK or HttpStatusCode.Created);
            Assert.True((await PutAsync(AuthClusterFixture.AppWriterKey)) is HttpStatusCode.OK);
            Assert.Equal(HttpStatusCode.Forbidden, await PutAsync(AuthClusterFixture.ReaderKey));
            Assert.Equal(HttpStatusCode.Unauthorized, await PutAsync(null));
            Assert.Equal(HttpStatusCode.Unauthorized, await PutAsync(AuthClusterFixture.AppWriterKey[..^1] + "_"));
            Assert.Equal(HttpStatusCode.Forbidden, await PutAsync(AuthClusterFixture.ReaderKey));
        }
    }

    [Fact]
    public async Task A_read_only_credential_reads_and_watches_but_gets_403_for_writes_and_admin()
    {
        var leader = await fixture.Cluster.WaitForLeaderAsync(Timeout);
        using var admin = fixture.Node(leader, AuthClusterFixture.AdminKey);
        (await admin.PutAsync("/cache/cfg/read-only", new StringContent("v"))).EnsureSuccessStatusCode();
        using var reader = fixture.Node(leader, AuthClusterFixture.ReaderKey);

        Assert.Equal("v", await reader.GetStringAsync("/cache/cfg/read-only"));
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/cache?prefix=cfg/")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/cluster/status")).StatusCode);
        await using (var watch = await SseStream.OpenAsync(reader, "/cache/watch?prefix=cfg/"))
        {
            Assert.Equal("progress", (await watch.NextAsync(new CancellationTokenSource(Timeout).Token))!.Type);
        }

        foreach (var request in new HttpRequestMessage[]
                 {
                     new(HttpMethod.Put, "/cache/cfg/read-only") { Content = new StringContent("w") },
                     new(HttpMethod.Delete, "/cache/cfg/read-only"),
                     new(HttpMethod.Post, "/cache/batch") { Content = Json("""{"delete":["cfg/read-only"]}""") },
                     new(HttpMethod.Post, "/admin/snapshot"),
                     new(HttpMethod.Post, "/admin/step-down"),
                 })
        {
            using var response = await reader.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{request.Method} {request.RequestUri}: {(int)response.StatusCode}");
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(ProblemTypes.Base + "forbidden", problem.GetProperty("type").GetString());
            Assert.Contains("'dashboard'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.Contains("insufficient_scope", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        }

        Assert.Equal("v", await admin.GetStringAsync("/cache/cfg/read-only"));
    }

    [Fact]
    public async Task A_prefix_limited_credential_is_refused_403_outside_its_prefixes_and_a_batch_with_one_such_key_writes_nothing()
    {
        var leader = await fixture.Cluster.WaitForLeaderAsync(Timeout);
        using var admin = fixture.Node(leader, AuthClusterFixture.AdminKey);
        (await admin.PutAsync("/cache/other/secret", new StringContent("s"))).EnsureSuccessStatusCode();
        using var app = fixture.Node(leader, AuthClusterFixture.AppWriterKey);

        Assert.Equal(HttpStatusCode.Created, (await app.PutAsync($"/cache/app/{Guid.NewGuid():N}", new StringContent("1"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.GetAsync("/cache?prefix=app/")).StatusCode);

        var outside = new HttpRequestMessage[]
        {
            new(HttpMethod.Get, "/cache/other/secret"),
            new(HttpMethod.Put, "/cache/other/secret") { Content = new StringContent("overwritten") },
            new(HttpMethod.Delete, "/cache/other/secret"),
            new(HttpMethod.Get, "/cache?prefix=other/"),
            new(HttpMethod.Get, "/cache"), // every key
            new(HttpMethod.Get, "/cache?prefix=ap"), // wider than app/
            new(HttpMethod.Get, "/cache/watch?prefix=app/&key=other/secret"),
            new(HttpMethod.Get, "/cache/watch?prefix="),
            new(HttpMethod.Post, "/cache/batch") { Content = Json("""{"set":{"app/in":"aW4=","other/secret":"b3V0"}}""") },
            new(HttpMethod.Post, "/cache/batch") { Content = Json("""{"set":{"app/in":"aW4="},"if":{"other/secret":1}}""") },
            new(HttpMethod.Post, "/cache/batch") { Content = Json("""{"delete":["other/secret"]}""") },
        };
        foreach (var request in outside)
        {
            using var response = await app.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{request.Method} {request.RequestUri}: {(int)response.StatusCode}");
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(ProblemTypes.Base + "forbidden", problem.GetProperty("type").GetString());
        }

        Assert.Equal("s", await admin.GetStringAsync("/cache/other/secret"));
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/cache/app/in")).StatusCode);

        // Inside its prefixes a batch goes through; the hot keys it sees are its own.
        Assert.Equal(HttpStatusCode.OK, (await app.PostAsync("/cache/batch", Json("""{"set":{"app/in":"aW4="}}"""))).StatusCode);
        for (var i = 0; i < 20; i++)
        {
            await admin.GetAsync("/cache/other/secret");
        }

        var hot = await app.GetFromJsonAsync<HotKeysResponse>("/cache/hot?count=100");
        Assert.All(hot!.Keys, k => Assert.StartsWith("app/", k.Key, StringComparison.Ordinal));
        Assert.Contains((await admin.GetFromJsonAsync<HotKeysResponse>("/cache/hot?count=100"))!.Keys, k => k.Key == "other/secret");
    }

    [Fact]
    public async Task Both_keys_of_a_rotation_are_valid_and_writes_record_the_credentials_name_in_watch_events()
    {
        var leader = await fixture.Cluster.WaitForLeaderAsync(Timeout);
        var follower = (leader + 1) % 3;
        var prefix = $"app/writer-{Guid.NewGuid():N}/";
        using var reader = fixture.Node(follower, AuthClusterFixture.ReaderKey);
        await using var watch = await SseStream.OpenAsync(reader, $"/cache/watch?prefix={prefix}");
        Assert.Equal("progress", (await watch.NextAsync(new CancellationTokenSource(Timeout).Token))!.Type);

        using var oldKey = fixture.Node(leader, AuthClusterFixture.AppWriterKey);
        using var newKey = fixture.Node(leader, AuthClusterFixture.AppWriterNextKey);
        using var admin = fixture.Node(leader, AuthClusterFixture.AdminKey);
        Assert.Equal(HttpStatusCode.Created, (await oldKey.PutAsync($"/cache/{prefix}a", new StringContent("1"))).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await newKey.PutAsync($"/cache/{prefix}b", new StringContent("2"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await newKey.PostAsync("/cache/batch", Json($$$"""{"set":{"{{{prefix}}}c":"Mw=="},"delete":["{{{prefix}}}a"]}"""))).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/cache/{prefix}b")).StatusCode);
        Assert.Equal("3", await oldKey.GetStringAsync($"/cache/{prefix}c"));

        var events = await watch.ReadUntilAsync(e => e.Type == "delete" && e.Key == $"{prefix}b", Timeout);
        var changes = events.Where(e => e.Type is "put" or "delete").Select(e => (e.Type, e.Key, Writer: e.Json.TryGetProperty("writer", out var w) ? w.GetString() : null)).ToArray();
        Assert.Equal(
            [
                ("put", $"{prefix}a", "app-writer"),
                ("put", $"{prefix}b", "app-writer"),
                ("put", $"{prefix}c", "app-writer"),
                ("delete", $"{prefix}a", "app-writer"),
                ("delete", $"{prefix}b", "ops"),
            ],
            changes);
    }

    [Fact]
    public async Task Admin_commands_need_the_admin_scope_and_a_followers_snapshot_passes_the_credential_to_the_leaders_barrier()
    {
        var leader = await fixture.Cluster.WaitForLeaderAsync(Timeout);
        using var admin = fixture.Node((leader + 1) % 3, AuthClusterFixture.AdminKey);

        using var snapshot = await admin.PostAsync("/admin/snapshot?waitMs=20000", null);
        Assert.True(snapshot.IsSuccessStatusCode, await snapshot.Content.ReadAsStringAsync());

        // A follower answers step-down itself (409): authorised, but not the leader.
        Assert.Equal(HttpStatusCode.Conflict, (await admin.PostAsync("/admin/step-down", null)).StatusCode);
    }

    [Fact]
    public async Task Through_the_router_the_callers_credential_is_forwarded_and_the_router_polls_with_its_own()
    {
        // The router found a leader with its own (read-only) credential. Its topology needs a read credential too.
        using var anonymous = fixture.ThroughRouter(null);
        using var reader = fixture.ThroughRouter(AuthClusterFixture.ReaderKey);
        using var deadline = new CancellationTokenSource(Timeout);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/router/topology", deadline.Token)).StatusCode);
        while (true)
        {
            using var topology = JsonDocument.Parse(await reader.GetStringAsync("/router/topology", deadline.Token));
            if (topology.RootElement.GetProperty("leaderId").GetString() is not null)
            {
                break;
            }

            await Task.Delay(50, deadline.Token);
        }

        var key = $"app/routed-{Guid.NewGuid():N}";
        using (var refused = await anonymous.PutAsync($"/cache/{key}", new StringContent("x")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("Bearer", refused.Headers.WwwAuthenticate.Single().Scheme);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"/cache/{key}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/cluster/status")).StatusCode);
        using (var watch = await anonymous.GetAsync("/cache/watch?prefix=app/", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, watch.StatusCode);
        }

        using var routerKey = fixture.ThroughRouter(AuthClusterFixture.RouterKey);
        Assert.Equal(HttpStatusCode.Forbidden, (await routerKey.PutAsync($"/cache/{key}", new StringContent("x"))).StatusCode);

        using var app = fixture.ThroughRouter(AuthClusterFixture.AppWriterKey);
        Assert.Equal(HttpStatusCode.Created, (await app.PutAsync($"/cache/{key}", new StringContent("x"))).StatusCode);
        Assert.Equal("x", await app.GetStringAsync($"/cache/{key}"));
        Assert.Equal(HttpStatusCode.Forbidden, (await app.GetAsync("/cache/other/secret")).StatusCode);
    }

    [Fact]
    public async Task The_client_sends_its_key_and_works_through_the_router_and_in_direct_mode()
    {
        var key = $"app/client-{Guid.NewGuid():N}";
        using var http = new HttpClient { BaseAddress = fixture.Router.Url };
        await using var client = new AspireCache.Client.AspireCacheClient(() => http, new AspireCache.Client.AspireCacheClientOptions { Credential = AuthClusterFixture.AppWriterKey });
        await client.SetAsync(key, "v"u8.ToArray());
        Assert.Equal("v"u8.ToArray(), (await client.GetAsync(key))!.Value.ToArray());

        using var nodes = new HttpClient();
        await using var direct = new AspireCache.Client.AspireCacheClient(() => nodes, new AspireCache.Client.AspireCacheClientOptions { Credential = AuthClusterFixture.AppWriterKey, Nodes = fixture.Cluster.Urls });
        await direct.SetAsync(key, "w"u8.ToArray());
        Assert.Equal("w"u8.ToArray(), (await direct.GetAsync(key))!.Value.ToArray());

        await using var anonymous = new AspireCache.Client.AspireCacheClient(() => http, new AspireCache.Client.AspireCacheClientOptions());
        var refused = await Assert.ThrowsAnyAsync<AspireCache.Client.AspireCacheException>(() => anonymous.GetAsync(key));
        Assert.Equal(401, refused.Status);
    }

    [Fact]
    public async Task No_key_appears_in_any_log_line_or_trace_of_nodes_and_router()
    {
        var spans = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = _ => true,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Add,
        };
        ActivitySource.AddActivityListener(listener);

        var leader = await fixture.Cluster.WaitForLeaderAsync(Timeout);
        var follower = (leader + 1) % 3;
        var wrongKey = "not-a-key-" + Guid.NewGuid().ToString("N");
        foreach (var key in AuthClusterFixture.AllKeys.Append(wrongKey))
        {
            using var node = fixture.Node(follower, key);
            await node.PutAsync($"/cache/app/logs-{Guid.NewGuid():N}", new StringContent("x"));
            await node.GetAsync("/cache/app/logs");
            await node.GetAsync("/cache/other/secret");
            await node.PostAsync("/admin/snapshot?waitMs=5000", null);
            using var routed = fixture.ThroughRouter(key);
            await routed.PutAsync($"/cache/app/logs-{Guid.NewGuid():N}", new StringContent("x"));
            await routed.GetAsync("/cache/app/logs");
        }

        await Task.Delay(500); // the router's own polls carry its key too

        Assert.NotEmpty(fixture.Logs.Lines);

        // Trace-level request logging was on (HttpClient header lines, Kestrel, YARP), so the check below means something.
        Assert.Contains(fixture.Logs.Lines, l => l.Contains("Request Headers", StringComparison.Ordinal));
        Assert.Contains(fixture.Logs.Lines, l => l.Contains("Microsoft.AspNetCore.Hosting.Diagnostics", StringComparison.Ordinal));
        Assert.Contains(fixture.Logs.Lines, l => l.Contains("Refused", StringComparison.Ordinal)); // refusals are logged (Debug), without the key
        foreach (var secret in AuthClusterFixture.AllKeys.Append(wrongKey))
        {
            Assert.DoesNotContain(fixture.Logs.Lines, l => l.Contains(secret, StringComparison.Ordinal));
            foreach (var span in spans)
            {
                foreach (var (name, value) in span.TagObjects)
                {
                    Assert.False(value?.ToString()?.Contains(secret, StringComparison.Ordinal) == true, $"span {span.OperationName} tag {name} holds a key");
                }

                Assert.DoesNotContain(secret, span.DisplayName, StringComparison.Ordinal);
            }
        }
    }
}

/// <summary>Every log line (message, structured values, scopes, exception) of the hosts it is added to.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    private readonly ConcurrentQueue<string> _lines = new();
    private IExternalScopeProvider? _scopes;

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => owner._scopes?.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var line = new StringBuilder().Append(logLevel).Append(' ').Append(category).Append(": ").Append(formatter(state, exception));
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
            {
                foreach (var (name, value) in values)
                {
                    // Structured values as an exporter sees them (arrays element by element).
                    line.Append(" |").Append(name).Append('=').Append(value is System.Collections.IEnumerable items and not string ? string.Join(",", items.Cast<object?>()) : value);
                }
            }

            owner._scopes?.ForEachScope((scope, builder) => builder.Append(" |scope=").Append(scope), line);
            if (exception is not null)
            {
                line.Append(" |exception=").Append(exception);
            }

            owner._lines.Enqueue(line.ToString());
        }
    }
}
