using System.Collections.Immutable;
using AspireCache.Node.Raft;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Faults;

/// <summary>
/// Network partitions for tests, in the node-to-node transport. Exists only when
/// <c>Cluster:FaultInjection=true</c>: the handler is not installed and the admin endpoint is not
/// mapped otherwise. Blocking is outgoing-only — every node-to-node exchange is a request its
/// sender starts, so blocking A→B on A and B→A on B cuts the link both ways.
/// </summary>
public sealed class PartitionState
{
    private ImmutableHashSet<string> _blocked = ImmutableHashSet.Create<string>(StringComparer.OrdinalIgnoreCase);

    public ImmutableHashSet<string> Blocked => Volatile.Read(ref _blocked);

    public void Block(IEnumerable<string> peers) => Volatile.Write(ref _blocked, ImmutableHashSet.CreateRange(StringComparer.OrdinalIgnoreCase, peers));

    private ImmutableHashSet<string> _stalled = ImmutableHashSet.Create<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Peers whose requests vanish without an answer (a black hole rather than a refusal).</summary>
    public ImmutableHashSet<string> Stalled => Volatile.Read(ref _stalled);

    /// <summary>
    /// Requests to these peers get no answer: each waits until the link heals or its sender gives up
    /// (the Raft client's timeout), then fails as a lost message. Unlike <see cref="Block"/>, whose
    /// refusals a leader sees at once, a leader keeps leading for as long as its round waits.
    /// </summary>
    public void Stall(IEnumerable<string> peers) => Volatile.Write(ref _stalled, ImmutableHashSet.CreateRange(StringComparer.OrdinalIgnoreCase, peers));

    public void Heal()
    {
        Block([]);
        Stall([]);
    }

    private volatile PendingCapture? _capture;

    /// <summary>
    /// Tests only: copies the next AppendEntries carrying entries that this node sends to
    /// <paramref name="peer"/> (it is still sent, unless the link is cut), so a test can deliver it
    /// again later — a late duplicate, as a paused or slow network produces.
    /// </summary>
    public Task<CapturedRequest> CaptureNextAppendAsync(string peer) => CaptureNextAsync(peer, "AppendEntries");

    /// <summary>Tests only: as <see cref="CaptureNextAppendAsync"/>, for the next Raft message of that type (e.g. InstallSnapshot).</summary>
    public Task<CapturedRequest> CaptureNextAsync(string peer, string messageType)
    {
        var capture = new PendingCapture(peer, messageType);
        _capture = capture;
        return capture.Completion.Task;
    }

    internal PendingCapture? Capture => _capture;

    private volatile PendingCapture? _cutAfterAnswer;

    /// <summary>
    /// Tests only: the link to <paramref name="peer"/> is cut (as <see cref="Block"/> adds it) as soon as the answer
    /// to this node's next Raft message of <paramref name="messageType"/> to it arrives, before another can be sent:
    /// a peer that got exactly that one message. The task ends with the answer's body, as this node read it.
    /// </summary>
    public Task<string> CutAfterAnswerAsync(string peer, string messageType)
    {
        var cut = new PendingCapture(peer, messageType);
        _cutAfterAnswer = cut;
        return cut.Answer.Task;
    }

    internal PendingCapture? CutAfterAnswer => _cutAfterAnswer;

    internal void Answered(PendingCapture cut, string answer)
    {
        if (Interlocked.CompareExchange(ref _cutAfterAnswer, null, cut) == cut)
        {
            Block(Blocked.Add(cut.Peer));
            cut.Answer.TrySetResult(answer);
        }
    }

    internal void Captured(PendingCapture capture, CapturedRequest request)
    {
        Interlocked.CompareExchange(ref _capture, null, capture);
        capture.Completion.TrySetResult(request);
    }

    internal sealed class PendingCapture(string peer, string messageType)
    {
        public string Peer { get; } = peer;

        public string MessageType { get; } = messageType;

        public TaskCompletionSource<CapturedRequest> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<string> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>A node-to-node request as it was sent: enough to send it again.</summary>
public sealed record CapturedRequest(Uri Uri, IReadOnlyList<KeyValuePair<string, string[]>> Headers, IReadOnlyList<KeyValuePair<string, string[]>> ContentHeaders, byte[] Body)
{
    /// <summary>The same request with header <paramref name="name"/> (one it has) set to <paramref name="value"/>.</summary>
    public CapturedRequest WithHeader(string name, string value) =>
        this with { Headers = [.. Headers.Select(h => h.Key == name ? KeyValuePair.Create(h.Key, new[] { value }) : h)] };

    public HttpRequestMessage ToRequest()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, Uri) { Content = new ByteArrayContent(Body) };
        foreach (var (name, values) in Headers)
        {
            request.Headers.TryAddWithoutValidation(name, values);
        }

        foreach (var (name, values) in ContentHeaders)
        {
            request.Content.Headers.Remove(name);
            request.Content.Headers.TryAddWithoutValidation(name, values);
        }

        return request;
    }
}

/// <summary>Fails requests to blocked peers as if the network dropped them.</summary>
internal sealed class PartitionHandler(PartitionState partition, IOptions<ClusterOptions> options) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (partition.Capture is { } capture
            && request.RequestUri is { } target
            && IsTo(request, capture)
            && (capture.MessageType != Raft.DotNextShims.RaftWire.AppendEntries || (request.Headers.TryGetValues(Raft.DotNextShims.RaftWire.EntriesCountHeader, out var count) && count.FirstOrDefault() is { } n && n != "0"))
            && request.Content is { } content)
        {
            var body = await content.ReadAsByteArrayAsync(cancellationToken);
            var copy = new ByteArrayContent(body);
            foreach (var (name, values) in content.Headers)
            {
                copy.Headers.TryAddWithoutValidation(name, values);
            }

            request.Content = copy;
            partition.Captured(capture, new CapturedRequest(
                target,
                [.. request.Headers.Select(h => KeyValuePair.Create(h.Key, h.Value.ToArray()))],
                [.. content.Headers.Select(h => KeyValuePair.Create(h.Key, h.Value.ToArray()))],
                body));
        }

        var response = await SendCoreAsync(request, cancellationToken);
        if (partition.CutAfterAnswer is { } cut
            && IsTo(request, cut)
            && response.IsSuccessStatusCode)
        {
            await response.Content.LoadIntoBufferAsync(cancellationToken);
            partition.Answered(cut, await response.Content.ReadAsStringAsync(cancellationToken));
        }

        return response;
    }

    private bool IsTo(HttpRequestMessage request, PartitionState.PendingCapture target) =>
        request.RequestUri is { } uri
        && options.Value.Members.TryGetValue(target.Peer, out var peerUrl)
        && Uri.Compare(peerUrl, uri, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0
        && request.Headers.TryGetValues(Raft.DotNextShims.RaftWire.MessageTypeHeader, out var type) && type.FirstOrDefault() == target.MessageType;

    private async Task<HttpResponseMessage> SendCoreAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var (blocked, stalled) = (partition.Blocked, partition.Stalled);
        if ((!blocked.IsEmpty || !stalled.IsEmpty) && request.RequestUri is { } uri)
        {
            foreach (var (id, url) in options.Value.Members)
            {
                if (Uri.Compare(url, uri, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) != 0)
                {
                    continue;
                }

                if (blocked.Contains(id))
                {
                    throw new HttpRequestException($"Fault injection: the link to {id} is cut.");
                }

                if (stalled.Contains(id))
                {
                    while (partition.Stalled.Contains(id))
                    {
                        await Task.Delay(10, cancellationToken);
                    }

                    throw new HttpRequestException($"Fault injection: the link to {id} lost the request.");
                }
            }
        }

        return await base.SendAsync(request, cancellationToken);
    }
}

public static class FaultInjectionExtensions
{
    public const string EnabledKey = "Cluster:FaultInjection";

    /// <param name="Blocked">Peers whose links are cut: requests to them fail at once.</param>
    /// <param name="Stalled">Peers whose links lose requests silently: each waits for the sender's timeout.</param>
    public sealed record PartitionRequest(List<string> Blocked, List<string>? Stalled = null);

    public static bool IsFaultInjectionEnabled(this IConfiguration configuration) => configuration.GetValue<bool>(EnabledKey);

    /// <summary>Adds the partition handler to every node-to-node client. Call only when enabled.</summary>
    public static IServiceCollection AddFaultInjection(this IServiceCollection services, params string[] httpClients)
    {
        services.AddSingleton<PartitionState>();
        services.AddTransient<PartitionHandler>();
        foreach (var name in httpClients)
        {
            // Runs after the Raft client's "clear every additional handler" step, so it survives it.
            services.AddHttpClient(name).ConfigureAdditionalHttpMessageHandlers(static (handlers, sp) => handlers.Add(sp.GetRequiredService<PartitionHandler>()));
        }

        return services;
    }

    /// <summary>
    /// <c>PUT /admin/faults/partition {"blocked":["node2"], "stalled":["node3"]}</c> cuts this node's links to
    /// the blocked peers and makes the stalled ones lose requests silently; <c>DELETE</c> heals both.
    /// </summary>
    public static IEndpointRouteBuilder MapFaultInjection(this IEndpointRouteBuilder app)
    {
        app.MapPut("/admin/faults/partition", (PartitionRequest request, PartitionState partition) =>
        {
            partition.Block(request.Blocked);
            partition.Stall(request.Stalled ?? []);
            return TypedResults.Ok(new PartitionRequest([.. partition.Blocked], [.. partition.Stalled]));
        });
        app.MapDelete("/admin/faults/partition", (PartitionState partition) =>
        {
            partition.Heal();
            return TypedResults.NoContent();
        });
        return app;
    }
}
