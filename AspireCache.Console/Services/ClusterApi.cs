using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AspireCache.Console.Diagnostics;
using AspireCache.Contracts;

namespace AspireCache.Console.Services;

/// <summary>
/// <see cref="IClusterApi"/> over the console's named HttpClient, every request with one operator's
/// key. Errors of key reads are the client's typed exceptions (<see cref="Client.AspireCacheException"/>).
/// </summary>
internal sealed class ClusterApi(Func<HttpClient> http, string credential, TimeSpan nodeTimeout, ILogger logger, Options.LimitsSource? limits = null) : IClusterApi
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task<CredentialCheck> CheckCredentialAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, CachePaths.ClusterStatus), cancellationToken);
            if (limits is not null)
            {
                await limits.ObserveAsync(response, cancellationToken);
            }

            return response.StatusCode switch
            {
                HttpStatusCode.OK => CredentialCheck.Accepted,
                HttpStatusCode.Unauthorized => CredentialCheck.Unknown,
                HttpStatusCode.Forbidden => CredentialCheck.NoReadScope,
                _ => CredentialCheck.Unavailable,
            };
        }
        catch (HttpRequestException)
        {
            return CredentialCheck.Unavailable;
        }
    }

    public async Task<KeyDetails?> GetKeyAsync(string key, CancellationToken cancellationToken = default)
    {
        // One retry covers an election's 503 or a dropped connection; the page shows anything else.
        for (var attempt = 1; ; attempt++)
        {
            var sent = DateTimeOffset.UtcNow;
            HttpResponseMessage response;
            try
            {
                response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, KeyPath(key)), cancellationToken);
            }
            catch (HttpRequestException) when (attempt == 1)
            {
                await Task.Delay(200, cancellationToken);
                continue;
            }

            using (response)
            {
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable && attempt == 1)
                {
                    await Task.Delay(response.Headers.RetryAfter?.Delta is { } delay && delay < TimeSpan.FromSeconds(1) ? delay : TimeSpan.FromMilliseconds(300), cancellationToken);
                    continue;
                }

                var node = Header(response, CacheHeaders.Node);
                var revision = long.TryParse(Header(response, CacheHeaders.Revision), NumberStyles.Integer, CultureInfo.InvariantCulture, out var r) ? r : (long?)null;
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    return null;
                }

                if (!response.IsSuccessStatusCode)
                {
                    throw await ProblemAsync(response, key, cancellationToken);
                }

                var value = await response.Content.ReadAsByteArrayAsync(cancellationToken);
                var version = long.TryParse(response.Headers.ETag?.Tag.Trim('"'), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0;
                DateTimeOffset? expiresAt = long.TryParse(Header(response, CacheHeaders.TtlMs), NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms)
                    ? sent.AddMilliseconds(ms)
                    : null;
                return new KeyDetails(key, value, version, expiresAt, response.Content.Headers.LastModified, revision, node);
            }
        }
    }

    public async Task<HistoryStart> HistoryStartAsync(string prefix, CancellationToken cancellationToken = default)
    {
        // afterRevision=0 asks for everything: a node that no longer has it answers 410 with its oldest
        // resume point; one that has it opens the stream, which is closed at once.
        var path = $"{CachePaths.Watch}?prefix={Uri.EscapeDataString(prefix)}&afterRevision=0&values=false";
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, path), cancellationToken, HttpCompletionOption.ResponseHeadersRead);
        var node = Header(response, CacheHeaders.Node);
        if (response.StatusCode == HttpStatusCode.Gone)
        {
            using var body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken: cancellationToken);
            var oldest = body.RootElement.TryGetProperty("oldestRevision", out var o) && o.TryGetInt64(out var ov) ? ov : 0;
            long? current = body.RootElement.TryGetProperty("currentRevision", out var c) && c.TryGetInt64(out var cv) ? cv : null;
            return new HistoryStart(oldest, current, node);
        }

        if (!response.IsSuccessStatusCode)
        {
            throw await ProblemAsync(response, null, cancellationToken);
        }

        return new HistoryStart(0, null, node);
    }

    public async Task<ClusterReport> ReportAsync(int hotKeys, CancellationToken cancellationToken = default)
    {
        var readAt = DateTimeOffset.UtcNow;
        ClusterStatusResponse? entry;
        try
        {
            entry = await GetJsonAsync<ClusterStatusResponse>(CachePaths.ClusterStatus, cancellationToken);
            limits?.Observe(entry?.Limits);
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or Client.AspireCacheException)
        {
            return new ClusterReport(null, null, [], readAt, ex.Message);
        }

        var topologyTask = TopologyAsync(cancellationToken);
        var members = entry?.Members ?? [];
        var reports = await Task.WhenAll(members.Select(m => NodeAsync(m, hotKeys, cancellationToken)));
        var topology = await topologyTask;
        var byId = topology?.Nodes.ToDictionary(n => n.NodeId, StringComparer.OrdinalIgnoreCase);
        return new ClusterReport(
            entry,
            topology,
            [.. reports.Select(r => r with { Router = byId?.GetValueOrDefault(r.Id) })],
            readAt,
            null);
    }

    private async Task<RouterTopology?> TopologyAsync(CancellationToken cancellationToken)
    {
        try
        {
            // The router's own view (health, latency); absent when the endpoint is a node, not a router.
            using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, "/router/topology"), cancellationToken);
            return response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<RouterTopology>(Json, cancellationToken) : null;
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException)
        {
            return null;
        }
    }

    private async Task<NodeReport> NodeAsync(MemberStatus member, int hotKeys, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(nodeTimeout);
        try
        {
            var status = GetJsonAsync<ClusterStatusResponse>(new Uri(member.Url, CachePaths.ClusterStatus).ToString(), timeout.Token);
            var hot = GetJsonAsync<HotKeysResponse>(new Uri(member.Url, $"{CachePaths.HotKeys}?count={hotKeys}").ToString(), timeout.Token);
            return new NodeReport(member.Id, member.Url, await status, await hot, null, null);
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or Client.AspireCacheException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            var reason = ex is OperationCanceledException ? $"no answer within {nodeTimeout.TotalSeconds:0.#} s" : ex.Message;
            ConsoleLog.NodeUnreachable(logger, member.Id, member.Url, reason);
            return new NodeReport(member.Id, member.Url, null, null, null, $"not reachable from the console ({reason})");
        }
    }

    private async Task<T?> GetJsonAsync<T>(string path, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, path), cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw await ProblemAsync(response, null, cancellationToken);
        }

        return await response.Content.ReadFromJsonAsync<T>(Json, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        using (request)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
            return await http().SendAsync(request, completion, cancellationToken);
        }
    }

    /// <summary>The client's typed exception for a problem answer (the same types the client throws).</summary>
    private static async Task<Client.AspireCacheException> ProblemAsync(HttpResponseMessage response, string? key, CancellationToken cancellationToken)
    {
        string? type = null, title = null, detail = null;
        try
        {
            using var body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken: cancellationToken);
            type = body.RootElement.TryGetProperty("type", out var t) ? t.GetString() : null;
            title = body.RootElement.TryGetProperty("title", out var ti) ? ti.GetString() : null;
            detail = body.RootElement.TryGetProperty("detail", out var d) ? d.GetString() : null;
        }
        catch (JsonException)
        {
            // Not a problem body: the status says enough.
        }

        var status = (int)response.StatusCode;
        return status switch
        {
            400 when type == ProblemTypes.InvalidKey => new Client.InvalidKeyException(title, detail),
            503 => new Client.UnavailableException(status, type, title, detail, response.Headers.RetryAfter?.Delta),
            _ => new Client.AspireCacheException(status, type, title ?? (key is null ? null : $"Reading '{key}' failed"), detail),
        };
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    /// <summary><c>/cache/</c> + the key, each segment escaped and <c>/</c> kept, as the client does.</summary>
    internal static string KeyPath(string key) =>
        CachePaths.Keys + "/" + string.Join('/', key.Split('/').Select(Uri.EscapeDataString));
}
