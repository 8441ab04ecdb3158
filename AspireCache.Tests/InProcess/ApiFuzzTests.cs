using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AspireCache.Node.Api;
using AspireCache.Tests.Unit;
using CsCheck;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// A real three-node cluster with client authentication on (the credentials of
/// <see cref="AuthClusterFixture"/>) and small request limits, so that generated requests reach
/// every limit cheaply (values 4 KiB, batches 20 keys and 64 KiB).
/// </summary>
public sealed class ApiFuzzClusterFixture : IAsyncLifetime
{
    public const int MaxValueBytes = 4096;
    public const int MaxBatchKeys = 20;
    public const int MaxBatchBytes = 64 * 1024;

    public InProcessCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var settings = AuthClusterFixture.AuthSettings();
        settings["Cache:Limits:MaxValueBytes"] = MaxValueBytes.ToString(CultureInfo.InvariantCulture);
        settings["Cache:Limits:MaxBatchKeys"] = MaxBatchKeys.ToString(CultureInfo.InvariantCulture);
        settings["Cache:Limits:MaxBatchBytes"] = MaxBatchBytes.ToString(CultureInfo.InvariantCulture);
        Cluster = await InProcessCluster.StartAsync(settings, credential: AuthClusterFixture.AdminKey);
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

/// <summary>
/// HTTP API fuzzing (CsCheck) against a real in-process cluster: generated requests to every client
/// endpoint (keys, batch, list, hot keys, watch, cluster, admin; odd methods and unknown paths), sent to
/// any node with any credential: keys in any Unicode (control characters, astral planes, encoded lone
/// surrogates and invalid UTF-8, <c>..</c>, <c>%2F</c>, over the size limit), random values and bodies
/// (invalid JSON, invalid base64, wrong types, oversized, chunked), random query strings (ttl, pin,
/// consistent, limit, waitMs, afterRevision, ...) and headers (Idempotency-Key, If-Match,
/// If-None-Match, Last-Event-ID, ...). Properties, for every request: no 5xx but a 503 with
/// <c>Retry-After</c>; every 4xx of an endpoint of the API is an RFC 9457 problem
/// (<c>application/problem+json</c> with its status and a title); and a 4xx changes nothing: the
/// cluster's revision and every key's value, version and expiry, read linearizably before and after,
/// are the same. A request no endpoint maps (an unknown path, a method a path does not take, a path
/// whose dot segments leave <c>/cache</c>) must be a 404 or 405 of the routing, also a problem
/// (<c>UseStatusCodePages</c> in the node's pipeline). Requests stay inside what Kestrel itself accepts (request line 8 KiB, headers 32 KiB, no
/// NUL in the path): beyond that Kestrel answers on its own, before any of the node's code runs.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class ApiFuzzTests(ApiFuzzClusterFixture fixture) : IClassFixture<ApiFuzzClusterFixture>
{
    private const int Requests = 400;

    private InProcessCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task Generated_requests_never_get_a_5xx_but_503_with_Retry_After_and_every_rejection_is_a_problem_that_changes_nothing()
    {
        await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        await using var checker = new Checker(Cluster);

        await ApiFuzz.Requests.SampleAsync(checker.CheckAsync, iter: Requests, threads: 1, print: r => r.ToString());

        // The fuzzer reached the handlers, not only the gates: it was both refused and served.
        Assert.Contains(checker.Statuses.Keys, s => s is >= 200 and < 300);
        Assert.Contains(checker.Statuses.Keys, s => s == 400);
        Assert.True(checker.Statuses.Where(s => s.Key is >= 400 and < 500).Sum(s => s.Value) >= Requests / 4, checker.Summary());
        Assert.True(checker.Writes > 0, checker.Summary());
    }

    // ---- regressions: what the fuzzer found (each was an empty answer, not a problem) ----------------

    [Theory]
    [InlineData("text/html")]
    [InlineData("EiA/eLWWq,4g]5J8u9x^1/>ZJATC`A")]
    public async Task A_write_to_a_follower_is_a_421_problem_whatever_the_client_accepts(string accept)
    {
        // The exception handler wrote its problems through the problem details service, which
        // writes nothing for a client that does not accept JSON: the 421 came without a body.
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var follower = Cluster.Client((leader + 1) % 3);
        using var request = new HttpRequestMessage(HttpMethod.Put, "/cache/app/fuzz-421") { Content = new StringContent("x") };
        request.Headers.TryAddWithoutValidation("Accept", accept);

        using var response = await follower.SendAsync(request);

        await AssertProblemAsync(response, HttpStatusCode.MisdirectedRequest, ProblemTypes.NotLeader);
    }

    [Theory]
    [InlineData("POST", "/cache/watch/%2e/progress", "g>EO1e/r", HttpStatusCode.MethodNotAllowed)] // seed 3BpkYuQaRSH8
    [InlineData("PATCH", "/cache/app/k", "text/html", HttpStatusCode.MethodNotAllowed)]
    [InlineData("GET", "/no/such/path", "text/html", HttpStatusCode.NotFound)]
    public async Task A_request_no_endpoint_maps_is_a_problem_whatever_the_client_accepts(string method, string path, string accept, HttpStatusCode expected)
    {
        // The routing's empty 404/405 went through ASP.NET Core's status code pages, which write a problem
        // only for a client that accepts JSON: any other Accept got "Status Code: 405; Method Not Allowed" as text.
        using var client = Cluster.Client(0);
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Accept", accept);

        using var response = await client.SendAsync(request);

        await AssertProblemAsync(response, expected, null);
    }

    [Theory]
    [InlineData("{\"keys\":{\"a\":1}", "application/json", HttpStatusCode.BadRequest)]
    [InlineData("{\"keys\":{\"a\":\"x\"}}", "application/json", HttpStatusCode.BadRequest)]
    [InlineData("not json", "application/json", HttpStatusCode.BadRequest)]
    [InlineData("{\"keys\":{\"a\":1}}", "text/plain", HttpStatusCode.UnsupportedMediaType)]
    public async Task A_malformed_near_cache_report_is_a_problem(string body, string contentType, HttpStatusCode expected)
    {
        // Bound by the framework, the report's binding failures were an empty 400 or 415.
        using var client = Cluster.Client(0);

        using var response = await client.PostAsync("/cache/hot", new StringContent(body, Encoding.UTF8, contentType));

        await AssertProblemAsync(response, expected, null);
    }

    [Fact]
    public async Task A_well_formed_near_cache_report_is_still_accepted()
    {
        using var client = Cluster.Client(0);

        using var response = await client.PostAsJsonAsync("/cache/hot", new AccessReport(new Dictionary<string, long> { ["app/reported"] = 3 }));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    [Theory]
    [InlineData("/cluster/watch?term=abc")]
    [InlineData("/cluster/watch?waitMs=1h")]
    [InlineData("/cluster/watch?waitMs=5&waitMs=6")]
    [InlineData("/cluster/watch?waitMs=99999999999")]
    public async Task A_cluster_watch_with_a_bad_number_is_a_400_problem(string path)
    {
        using var client = Cluster.Client(0);

        using var response = await client.GetAsync(path);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, ProblemTypes.InvalidRequest);
    }

    [Fact]
    public async Task A_cluster_watch_with_good_numbers_still_answers_with_the_status()
    {
        using var client = Cluster.Client(0);
        var status = await Cluster.StatusAsync(0);

        using var response = await client.GetAsync($"/cluster/watch?term={status.Term - 1}&waitMs=0");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(status.NodeId, (await response.Content.ReadFromJsonAsync<ClusterStatusResponse>())!.NodeId);
    }

    [Fact]
    public async Task A_snapshot_request_with_a_bad_waitMs_is_a_400_problem()
    {
        using var client = Cluster.Client(0);

        using var response = await client.PostAsync("/admin/snapshot?waitMs=soon", null);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, ProblemTypes.InvalidRequest);
    }

    [Theory]
    [InlineData("PUT", "/cache/")]
    [InlineData("PUT", "/cache")]
    [InlineData("DELETE", "/cache/")]
    [InlineData("DELETE", "/cache")]
    [InlineData("PUT", "/cache/app/%2E%2E")] // the dot segment leaves "/cache/": no key either
    public async Task A_write_without_a_key_is_an_invalid_key_problem_and_writes_nothing(string method, string path)
    {
        var leader = await Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = Cluster.Client(leader);
        var before = (await client.GetFromJsonAsync<ListResponse>("/cache?limit=1"))!.Revision;

        using var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "PUT" ? new StringContent("x") : null });

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, ProblemTypes.InvalidKey);
        Assert.Equal(before, (await client.GetFromJsonAsync<ListResponse>("/cache?limit=1"))!.Revision);
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? type)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(body);
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
        if (type is not null)
        {
            Assert.Equal(type, problem.RootElement.GetProperty("type").GetString());
        }
    }

    /// <summary>Checks one request at a time and keeps the state read after the last rejection.</summary>
    private sealed class Checker(InProcessCluster cluster) : IAsyncDisposable
    {
        private readonly Dictionary<(int Node, ApiFuzz.Caller Caller), HttpClient> _clients = [];
        private readonly HttpClient _observer = cluster.Client(0);
        private ClusterState? _before;
        private int? _leader;

        public Dictionary<int, int> Statuses { get; } = [];

        /// <summary>Requests not refused (2xx, 3xx, 503) after which the state had changed: the no-change checks compared something.</summary>
        public int Writes { get; private set; }

        public string Summary() => string.Join(", ", Statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}")) + $"; writes {Writes}";

        public async Task CheckAsync(ApiFuzz.FuzzRequest request)
        {
            try
            {
                _before ??= await ReadStateAsync();
                var (status, problemType) = await SendAndCheckAsync(request);
                Statuses[status] = Statuses.GetValueOrDefault(status) + 1;
                if (status is >= 400 and < 500 && problemType != ProblemTypes.LeadershipLost)
                {
                    // A rejection changed nothing (leadership-lost says the outcome is unknown).
                    var after = await ReadStateAsync();
                    Assert.True(_before == after, $"{status} {problemType} changed the state: {_before.Difference(after)}");
                }
                else
                {
                    var after = await ReadStateAsync();
                    Writes += after == _before ? 0 : 1;
                    _before = after;
                }
            }
            catch
            {
                _before = null;
                throw;
            }
        }

        private async Task<(int Status, string? ProblemType)> SendAndCheckAsync(ApiFuzz.FuzzRequest request)
        {
            var client = Client(request.Node == ApiFuzz.Leader ? _leader ??= await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10)) : request.Node, request.Caller);
            using var message = request.ToMessage();
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            using var response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            var status = (int)response.StatusCode;
            if (status == 421)
            {
                _leader = null; // it moved
            }

            if (request.IsStream && status == 200)
            {
                return (status, null); // an open event stream: its headers are the answer
            }

            var body = await response.Content.ReadAsStringAsync(deadline.Token);
            Assert.True(
                status < 500 || (status == 503 && response.Headers.RetryAfter is not null),
                $"{status} without Retry-After: {body}");
            if (!ApiFuzz.IsRouted(request.Method, request.PathAndQuery))
            {
                Assert.True(status is 404 or 405, $"{status} for a request no endpoint maps: {body}");
                Assert.True(request.Method == "HEAD" || response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"{status} as {response.Content.Headers.ContentType}: '{body}'");
                return (status, null);
            }

            if (status is < 400 or >= 500 || request.Method == "HEAD")
            {
                return (status, null); // (an answer to HEAD has no body)
            }

            Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"{status} as {response.Content.Headers.ContentType}: '{body}'");
            using var problem = JsonDocument.Parse(body);
            Assert.Equal(JsonValueKind.Object, problem.RootElement.ValueKind);
            Assert.Equal(status, problem.RootElement.GetProperty("status").GetInt32());
            Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("title").GetString()), body);
            return (status, problem.RootElement.TryGetProperty("type", out var type) ? type.GetString() : null);
        }

        /// <summary>Every key (version, value, expiry) and the revision, read linearizably (retried while there is no leader).</summary>
        private async Task<ClusterState> ReadStateAsync()
        {
            for (var attempt = 0; ; attempt++)
            {
                var entries = new StringBuilder();
                long? revision = null;
                string? after = null;
                var complete = true;
                do
                {
                    using var response = await _observer.GetAsync("/cache?limit=1000&consistent=true" + (after is null ? "" : "&after=" + Uri.EscapeDataString(after)));
                    if (response.StatusCode == HttpStatusCode.ServiceUnavailable && attempt < 50)
                    {
                        complete = false;
                        await Task.Delay(100);
                        break;
                    }

                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    var page = (await response.Content.ReadFromJsonAsync<ListResponse>())!;
                    Assert.Equal(page.Revision.ToString(CultureInfo.InvariantCulture), response.Headers.GetValues(CacheHeaders.Revision).Single());
                    Assert.True(revision is null || revision == page.Revision, "the revision moved while the state was read");
                    revision = page.Revision;
                    foreach (var item in page.Items)
                    {
                        entries.Append(JsonSerializer.Serialize(item.Key)).Append(" v").Append(item.Version).Append(" exp=").Append(item.ExpiresAt?.ToUnixTimeMilliseconds()).Append(" = ").Append(item.Value).Append('\n');
                    }

                    after = page.Next;
                }
                while (after is not null);

                if (complete)
                {
                    return new ClusterState(revision!.Value, entries.ToString());
                }
            }
        }

        private HttpClient Client(int node, ApiFuzz.Caller caller)
        {
            if (!_clients.TryGetValue((node, caller), out var client))
            {
                client = new HttpClient { BaseAddress = cluster.Urls[node], Timeout = TimeSpan.FromSeconds(30) };
                if (ApiFuzz.Authorization(caller) is { } authorization)
                {
                    client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", authorization);
                }

                _clients[(node, caller)] = client;
            }

            return client;
        }

        public ValueTask DisposeAsync()
        {
            foreach (var client in _clients.Values)
            {
                client.Dispose();
            }

            _observer.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private sealed record ClusterState(long Revision, string Entries)
    {
        public string Difference(ClusterState? other)
        {
            if (other is null)
            {
                return "unknown";
            }

            var mine = Entries.Split('\n').ToHashSet();
            var theirs = other.Entries.Split('\n').ToHashSet();
            return $"revision {Revision} -> {other.Revision}; gone: [{string.Join("; ", mine.Except(theirs))}] new: [{string.Join("; ", theirs.Except(mine))}]";
        }
    }
}

/// <summary>The generators of <see cref="ApiFuzzTests"/>.</summary>
internal static class ApiFuzz
{
    public enum Caller
    {
        /// <summary>Admin scope (read, write, admin).</summary>
        Admin,

        /// <summary>Read and write, keys under <c>app/</c> only.</summary>
        AppWriter,

        /// <summary>Read only.</summary>
        Reader,

        /// <summary>A bearer key the cluster does not know.</summary>
        Unknown,

        /// <summary>No Authorization header.</summary>
        Anonymous,

        /// <summary>An Authorization header that is not a bearer key.</summary>
        Malformed,
    }

    public static string? Authorization(Caller caller) => caller switch
    {
        Caller.Admin => "Bearer " + AuthClusterFixture.AdminKey,
        Caller.AppWriter => "Bearer " + AuthClusterFixture.AppWriterKey,
        Caller.Reader => "Bearer " + AuthClusterFixture.ReaderKey,
        Caller.Unknown => "Bearer not-a-key-of-this-cluster-0123456789",
        Caller.Malformed => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("user:" + AuthClusterFixture.AdminKey)),
        _ => null,
    };

    public sealed record FuzzRequest(
        string Method,
        string PathAndQuery,
        KeyValuePair<string, string>[] Headers,
        byte[]? Body,
        string? ContentType,
        bool Chunked,
        int Node,
        Caller Caller)
    {
        /// <summary>A watch: a 200 is an event stream that stays open.</summary>
        public bool IsStream => Method == "GET" && PathAndQuery.StartsWith("/cache/watch?", StringComparison.Ordinal);

        public HttpRequestMessage ToMessage()
        {
            var message = new HttpRequestMessage(new HttpMethod(Method), new Uri(PathAndQuery, UriKind.Relative));
            foreach (var (name, value) in Headers)
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }

            if (Body is not null)
            {
                message.Content = Chunked ? new ChunkedContent(Body) : new ByteArrayContent(Body);
                if (ContentType is not null)
                {
                    message.Content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
                }
            }

            return message;
        }

        public override string ToString()
        {
            var path = PathAndQuery.Length <= 240 ? PathAndQuery : $"{PathAndQuery[..200]}…{PathAndQuery[^40..]} ({PathAndQuery.Length} chars)";
            var text = new StringBuilder().Append(Method).Append(' ').Append(path).Append(Node == Leader ? " leader" : " node" + Node.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(Caller);
            foreach (var (name, value) in Headers)
            {
                text.Append(" [").Append(name).Append(": ").Append(value).Append(']');
            }

            if (Body is not null)
            {
                text.Append(Chunked ? " chunked " : " ").Append(ContentType ?? "(no type)").Append(" body ").Append(Body.Length).Append(" bytes: ");
                var shown = Body.AsSpan(0, Math.Min(Body.Length, 300));
                text.Append(shown.ToArray().All(b => b is >= 0x20 and < 0x7F) ? Encoding.ASCII.GetString(shown) : Convert.ToHexString(shown));
            }

            return text.ToString();
        }
    }

    /// <summary>A body without a declared length: sent chunked.</summary>
    private sealed class ChunkedContent(byte[] body) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(body).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    /// <summary>
    /// Whether an endpoint of the API maps the request, after the path is normalized as the client
    /// and Kestrel do (<c>%2E</c> decoded, dot segments removed). The routes of CacheApi, WatchApi,
    /// ClusterApi (client side) and AdminApi.
    /// </summary>
    public static bool IsRouted(string method, string pathAndQuery)
    {
        var query = pathAndQuery.IndexOf('?', StringComparison.Ordinal);
        var path = RemoveDotSegments((query < 0 ? pathAndQuery : pathAndQuery[..query]).Replace("%2E", ".", StringComparison.OrdinalIgnoreCase));
        return method switch
        {
            "GET" or "PUT" or "DELETE" when path == "/cache" || path.StartsWith("/cache/", StringComparison.Ordinal) => true,
            "GET" => path is "/cluster/status" or "/cluster/watch",
            "POST" => path is "/cache/batch" or "/cache/hot" or "/admin/snapshot" or "/admin/step-down" or "/admin/barrier"
                || System.Text.RegularExpressions.Regex.IsMatch(path, "^/cache/watch/[^/]+/progress$"),
            _ => false,
        };
    }

    /// <summary>RFC 3986 §5.2.4.</summary>
    private static string RemoveDotSegments(string path)
    {
        var output = new List<string>();
        var segments = path.Split('/');
        for (var i = 1; i < segments.Length; i++)
        {
            var last = i == segments.Length - 1;
            switch (segments[i])
            {
                case ".":
                    if (last)
                    {
                        output.Add("");
                    }

                    break;
                case "..":
                    if (output.Count > 0)
                    {
                        output.RemoveAt(output.Count - 1);
                    }

                    if (last)
                    {
                        output.Add("");
                    }

                    break;
                default:
                    output.Add(segments[i]);
                    break;
            }
        }

        return "/" + string.Join('/', output);
    }

    // ---- text -------------------------------------------------------------------------------------

    private static readonly Gen<string> ShortText = Gen.Frequency(
        (4, Gen.Char[' ', '~'].Array[0, 12].Select(chars => new string(chars))),
        (3, CommandCodecFuzzTests.Text.Where(t => t.Length < 40)));

    /// <summary>Percent-encoded path segments of a key: any Unicode, encoded oddities, reserved names, over-long.</summary>
    private static readonly Gen<string> Segment = Gen.Frequency(
        (6, ShortText.Select(text => Uri.EscapeDataString(text.Replace('\0', '0')))), // (Kestrel refuses a NUL in the path itself)
        (3, Gen.OneOf(
            "..", ".", "%2F", "%2f", "%2E%2E", "%2e", "%0A", "%7F", "%ZZ", "%", "%2", "%ED%A0%80", "%ED%B0%80", "%ED%A0%80%ED%B0%80",
            "%FF", "%C3%28", "%C0%AF", "%F4%90%80%80", "%EF%BB%BF", "%25", "%252F", "hot", "batch", "watch", "_cluster", "app", "%20", "~", "a%2Fb", "%5C", "%3F", "%23", "+")),
        (1, Gen.Int[500, 1_200].Select(n => new string('k', n))),
        (1, Gen.Int[100, 200].Select(n => string.Concat(Enumerable.Repeat("%F0%9F%9A%80", n)))), // 4 UTF-8 bytes each: over 512 bytes from 129
        (1, Gen.Const("")));

    private static readonly Gen<string> KeyPath = Gen.Frequency(
        (3, Segment.Array[1, 3].Select(segments => string.Join('/', segments))),
        (2, Segment.Array[1, 2].Select(segments => "app/" + string.Join('/', segments))),
        (1, Gen.Int[0, 30].Select(n => "app/k" + n.ToString(CultureInfo.InvariantCulture)))); // a small pool: reads, updates and CAS of existing keys

    /// <summary>A key as a JSON string may hold what a path cannot: lone surrogates, NUL.</summary>
    private static readonly Gen<string> BodyKey = Gen.Frequency(
        (4, ShortText),
        (3, Gen.Int[0, 30].Select(n => "app/k" + n.ToString(CultureInfo.InvariantCulture))),
        (1, Gen.OneOf("\ud800", "a\udc00b", "\udbff\udfff", "a\u0000b", "", "hot", "batch", "watch", "..", "/", "app/", "a/../b")),
        (1, Gen.Int[500, 700].Select(n => new string('k', n))));

    // ---- query strings and headers --------------------------------------------------------------------

    private static readonly Gen<string> QueryName = Gen.Frequency(
        (6, Gen.OneOf("ttl", "pin", "consistent", "prefix", "after", "limit", "values", "count", "waitMs", "term", "leader", "key", "afterRevision", "progressIntervalMs")),
        (1, ShortText));

    private static readonly Gen<string> QueryValue = Gen.Frequency(
        (4, Gen.OneOf(
            "", "0", "1", "-1", "5", "30", "1h", "2d", "500ms", "1.5h", "1e3", " 7", "true", "false", "TRUE", "yes", "on", "9223372036854775807", "9223372036854775808",
            "99999999999999999999999", "NaN", "app/", "app/k1", "null", "365d", "366d", "8760h", "31536000", "31536001", "0x10", "٣", "１", "-0", "+5", "5h ", "ms", "h")),
        (2, ShortText));

    private static readonly Gen<string> Query = Gen.Select(QueryName, QueryValue).Array[0, 4].Select(pairs =>
        pairs.Length == 0 ? "" : "?" + string.Join('&', pairs.Select(p => Uri.EscapeDataString(p.Item1) + "=" + Uri.EscapeDataString(SafeTtl(p.Item1, p.Item2)))));

    /// <summary>Key requests: mostly no query or a valid one (so that writes happen), else anything.</summary>
    private static readonly Gen<string> KeyQuery = Gen.Frequency(
        (3, Gen.Const("")),
        (2, Gen.OneOf("?ttl=1h", "?ttl=2d&pin=true", "?pin=false", "?consistent=false", "?consistent=true", "?ttl=3600")),
        (3, Query));

    private static readonly Gen<string> AsciiValue = Gen.Char[' ', '~'].Array[0, 40].Select(chars => new string(chars));

    private static readonly Gen<KeyValuePair<string, string>> Header = Gen.Frequency(
        (3, Gen.Select(Gen.Const("Idempotency-Key"), Gen.Frequency(
            (3, Gen.OneOf("k1", "k2", "k3")),
            (1, AsciiValue),
            (1, Gen.Const(new string('i', 129))))).Select(h => KeyValuePair.Create(h.Item1, h.Item2))),
        (3, Gen.Select(Gen.OneOf("If-Match", "If-None-Match"), Gen.Frequency(
            (3, Gen.OneOf("*", "\"1\"", "\"2\"", "\"3\"", "\"5\"", "\"0\"", "\"-1\"", "\"abc\"", "1", "W/\"1\"", "\"1\", \"2\"", "", " * ", "\"99999999999999999999\"", "\"\"")),
            (1, Gen.Int[1, 400].Select(v => $"\"{v}\"")),
            (1, AsciiValue))).Select(h => KeyValuePair.Create(h.Item1, h.Item2))),
        (1, Gen.Select(Gen.Const("Last-Event-ID"), Gen.OneOf("0", "1", "-1", "abc", "99999999999", "node1.x-1", "")).Select(h => KeyValuePair.Create(h.Item1, h.Item2))),
        (2, Gen.Select(
            Gen.OneOf("Accept", "Accept-Encoding", "Accept-Charset", "X-AspireCache-Consistency", "X-AspireCache-Ttl-Ms", "X-Forwarded-For", "X-Forwarded-Proto", "Cookie", "Range", "Content-Language", "Origin", "X-Fuzz"),
            AsciiValue).Select(h => KeyValuePair.Create(h.Item1, h.Item2))));

    private static readonly Gen<string?> ContentType = Gen.OneOf<string?>(
        null, "application/json", "application/json; charset=utf-8", "application/octet-stream", "text/plain", "application/problem+json", "application/json; charset=latin1", "garbage", "multipart/form-data; boundary=x", "");

    // ---- bodies -------------------------------------------------------------------------------------------

    private static readonly Gen<byte[]> Value = Gen.Frequency(
        (6, Gen.Byte.Array[0, 64]),
        (2, ShortText.Select(Encoding.UTF8.GetBytes)),
        (1, Gen.Byte.Array[ApiFuzzClusterFixture.MaxValueBytes - 2, ApiFuzzClusterFixture.MaxValueBytes + 2]));

    private static readonly Gen<string> JsonKey = BodyKey.Select(Json);

    private static readonly Gen<string> SetValue = Gen.Frequency(
        (5, Gen.Byte.Array[0, 24].Select(b => Json(Convert.ToBase64String(b)))),
        (1, Gen.OneOf("\"not base64!\"", "\"QQ\"", "\"QQ===\"", "null", "123", "true", "{}", "[]", "\"\"", "\"\\u0000\"")),
        (1, Gen.Const(Json(Convert.ToBase64String(new byte[ApiFuzzClusterFixture.MaxValueBytes + 1])))));

    private static readonly Gen<string> Version = Gen.Frequency(
        (3, Gen.OneOf("0", "-1", "1", "2", "3", "5")),
        (1, Gen.OneOf("-2", "1e3", "1.5", "9223372036854775807", "9223372036854775808", "-9223372036854775809", "\"5\"", "null", "true", "[]")));

    private static readonly Gen<string> SetPart = Gen.Frequency(
        (6, Gen.Select(JsonKey, SetValue).Array[0, 8].Select(kv => "{" + string.Join(',', kv.Select(p => p.Item1 + ":" + p.Item2)) + "}")),
        (1, Gen.Select(JsonKey, SetValue).Array[ApiFuzzClusterFixture.MaxBatchKeys - 1, ApiFuzzClusterFixture.MaxBatchKeys + 2].Select(kv => "{" + string.Join(',', kv.Select(p => p.Item1 + ":" + p.Item2)) + "}")),
        (1, Gen.OneOf("null", "[]", "5", "\"x\"", "{\"a\":1,\"a\":2}")));

    private static readonly Gen<string> DeletePart = Gen.Frequency(
        (6, Gen.Frequency((6, JsonKey), (1, Gen.OneOf("null", "1", "{}"))).Array[0, 6].Select(keys => "[" + string.Join(',', keys) + "]")),
        (1, Gen.OneOf("null", "{}", "\"app/k1\"", "[[]]")));

    private static readonly Gen<string> IfPart = Gen.Frequency(
        (6, Gen.Select(JsonKey, Version).Array[0, 4].Select(kv => "{" + string.Join(',', kv.Select(p => p.Item1 + ":" + p.Item2)) + "}")),
        (1, Gen.OneOf("null", "[]", "1")));

    private static readonly Gen<string> BatchJson = Gen.Select(
        Gen.Frequency((4, SetPart.Select(s => (string?)s)), (1, Gen.Const((string?)null))),
        Gen.Frequency((3, DeletePart.Select(s => (string?)s)), (2, Gen.Const((string?)null))),
        Gen.Frequency((1, IfPart.Select(s => (string?)s)), (2, Gen.Const((string?)null))),
        Gen.OneOf("set", "Set", "SET"),
        (set, delete, conditions, setName) =>
        {
            var parts = new List<string>();
            if (set is not null)
            {
                parts.Add($"\"{setName}\":{set}");
            }

            if (delete is not null)
            {
                parts.Add($"\"delete\":{delete}");
            }

            if (conditions is not null)
            {
                parts.Add($"\"if\":{conditions}");
            }

            return "{" + string.Join(',', parts) + "}";
        });

    /// <summary>Batch bodies: generated JSON, and that JSON broken (cut, garbled, nested deep, bytes that are not UTF-8).</summary>
    private static readonly Gen<byte[]> BatchBody = Gen.Frequency(
        (6, BatchJson.Select(Encoding.UTF8.GetBytes)),
        (2, Gen.Select(BatchJson, Gen.Int[0, int.MaxValue]).Select((json, cut) => Encoding.UTF8.GetBytes(json[..(cut % Math.Max(1, json.Length))]))),
        (1, Gen.Select(BatchJson, Gen.Int[0, int.MaxValue], Gen.Byte).Select((json, at, b) =>
        {
            var bytes = Encoding.UTF8.GetBytes(json);
            bytes[at % bytes.Length] = b;
            return bytes;
        })),
        (1, Gen.OneOf(
            "", "null", "[]", "{}", "\"x\"", "5", "{\"set\":{\"app/a\":\"QQ==\"}", "{\"set\":{\"app/a\":\"QQ==\"}}}", "\uFEFF{\"set\":{\"app/bom\":\"QQ==\"}}",
            "{\"set\":{\"app/a\":\"QQ==\"},\"delete\":[\"app/a\"]}", "{\"delete\":[\"app/a\",\"app/a\"]}", "{\"set\":{\"app/a\":\"QQ==\"},\"extra\":1}",
            new string('[', 100) + new string(']', 100), "{\"set\":" + new string('{', 70) + new string('}', 70) + "}",
            "{\"set\":{\"a\\ud800\":\"QQ==\"}}", "{\"delete\":[\"\\udc00\"]}", "{\"set\":{\"app/x\":\"QQ==\"},\"if\":{\"\\ud800\":1}}").Select(Encoding.UTF8.GetBytes)),
        (1, Gen.Select(Gen.Byte.Array[0, 3], Gen.OneOf("{\"set\":{\"app/", "{\"delete\":[\"app/", "{\"if\":{\"app/")).Select((bytes, start) => (byte[])[.. Encoding.UTF8.GetBytes(start), .. bytes, .. "\":\"QQ==\"}}"u8])), // invalid UTF-8 inside a string
        (1, Gen.Byte.Array[0, 200]),
        (1, Gen.Const(new byte[ApiFuzzClusterFixture.MaxBatchBytes + 1])));

    private static readonly Gen<byte[]> ReportBody = Gen.Frequency(
        (3, Gen.Select(JsonKey, Gen.OneOf("1", "0", "-5", "1000000000000", "9223372036854775807", "1.5", "\"x\"", "null")).Array[0, 4]
            .Select(kv => Encoding.UTF8.GetBytes("{\"keys\":{" + string.Join(',', kv.Select(p => p.Item1 + ":" + p.Item2)) + "}}"))),
        (1, Gen.OneOf("", "null", "{}", "[]", "{\"keys\":null}", "{\"keys\":[]}", "{\"keys\":{\"a\":1}", "x").Select(Encoding.UTF8.GetBytes)),
        (1, Gen.Byte.Array[0, 64]));

    // ---- requests -------------------------------------------------------------------------------------------

    /// <summary>A node, or <see cref="Leader"/> (half the time: writes there are applied, not refused with 421).</summary>
    private static readonly Gen<int> Node = Gen.Frequency((1, Gen.Const(Leader)), (1, Gen.Int[0, 2]));

    public const int Leader = -1;

    private static readonly Gen<Caller> Callers = Gen.Frequency(
        (10, Gen.Const(Caller.Admin)),
        (3, Gen.Const(Caller.AppWriter)),
        (1, Gen.OneOf(Caller.Reader, Caller.Unknown, Caller.Anonymous, Caller.Malformed)));

    private static readonly Gen<KeyValuePair<string, string>[]> Headers = Header.Array[0, 3];

    private static readonly Gen<FuzzRequest> KeyRequests = Gen.Select(
        Gen.Frequency((4, Gen.Const("GET")), (5, Gen.Const("PUT")), (3, Gen.Const("DELETE")), (1, Gen.OneOf("HEAD", "POST", "PATCH", "OPTIONS"))),
        KeyPath, KeyQuery, Gen.Frequency((1, Gen.Const(Array.Empty<KeyValuePair<string, string>>())), (2, Headers)), Value, ContentType, Gen.Bool, Gen.Select(Node, Callers),
        (method, key, query, headers, value, contentType, chunked, target) =>
            new FuzzRequest(method, "/cache/" + key + query, headers, method is "PUT" or "POST" or "PATCH" ? value : null, contentType, chunked, target.Item1, target.Item2));

    private static readonly Gen<FuzzRequest> BatchRequests = Gen.Select(
        BatchBody, Query, Headers, ContentType, Gen.Bool, Node, Callers,
        (body, query, headers, contentType, chunked, node, caller) =>
            new FuzzRequest("POST", "/cache/batch" + query, headers, body, contentType ?? "application/json", chunked, node, caller));

    private static readonly Gen<FuzzRequest> OtherRequests = Gen.Select(
        Gen.Frequency(
            (4, Gen.Const(("GET", "/cache"))),
            (2, Gen.Const(("GET", "/cache/hot"))),
            (2, Gen.Const(("POST", "/cache/hot"))),
            (2, Gen.Const(("GET", "/cluster/status"))),
            (2, Gen.Const(("GET", "/cluster/watch"))),
            (3, Gen.Const(("GET", "/cache/watch"))),
            (1, Segment.Select(id => ("POST", "/cache/watch/" + id + "/progress"))),
            (1, Gen.Const(("POST", "/admin/snapshot"))),
            (1, Gen.OneOf(("GET", "/"), ("GET", "/nope"), ("PUT", "/cache"), ("DELETE", "/cache"), ("GET", "/admin/snapshot"), ("POST", "/cluster/status"), ("PUT", "/cache/batch"), ("GET", "/cache/batch/x")))),
        Query, Headers, ReportBody, ContentType, Node, Callers,
        (endpoint, query, headers, body, contentType, node, caller) =>
        {
            // Long polls and snapshots answer at once: waitMs (when a number) is kept small.
            if (endpoint.Item2 is "/cluster/watch" or "/admin/snapshot")
            {
                query = (query.Length == 0 ? "?" : query + "&") + "waitMs=" + (query.Length % 200).ToString(CultureInfo.InvariantCulture);
            }

            // A watch needs a filter to be more than a 400.
            if (endpoint.Item2 == "/cache/watch" && query.Length % 3 != 0)
            {
                query = (query.Length == 0 ? "?" : query + "&") + "prefix=app/";
            }

            return new FuzzRequest(endpoint.Item1, endpoint.Item2 + (endpoint.Item2 == "/cache/watch" && query.Length == 0 ? "?" : query), headers, endpoint.Item1 == "POST" ? body : null, endpoint.Item1 == "POST" ? contentType ?? "application/json" : null, false, node, caller);
        });

    public static readonly Gen<FuzzRequest> Requests = Gen.Frequency(
        (6, KeyRequests),
        (3, BatchRequests),
        (3, OtherRequests));

    /// <summary>A TTL below an hour could expire during the run and change the state under the checker: raised to an hour.</summary>
    private static string SafeTtl(string name, string value) =>
        name.Equals("ttl", StringComparison.OrdinalIgnoreCase) && RequestParsing.TryParseDuration(value, out var ms) && ms is > 0 and < 3_600_000 ? "1h" : value;

    /// <summary>A JSON string with every non-printable-ASCII character escaped (lone surrogates too: STJ's writer would refuse them).</summary>
    private static string Json(string text) =>
        "\"" + string.Concat(text.Select(c => c switch
        {
            '"' => "\\\"",
            '\\' => "\\\\",
            >= ' ' and <= '~' => c.ToString(),
            _ => $"\\u{(int)c:x4}",
        })) + "\"";
}
