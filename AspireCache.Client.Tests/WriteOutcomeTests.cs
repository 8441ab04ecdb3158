namespace AspireCache.Client.Tests;

/// <summary>
/// What a write that hit its deadline reports: "unavailable" only when it certainly changed nothing (its
/// body never started to go out), otherwise "outcome unknown". Handlers stand in for the network here:
/// the two cases differ only in whether the request's body was sent before the deadline.
/// </summary>
public sealed class WriteOutcomeTests
{
    [Fact]
    public async Task A_write_still_waiting_for_a_connection_at_its_deadline_is_unavailable()
    {
        var client = new AspireCacheClient(
            new HttpClient(new NeverConnects()) { BaseAddress = new Uri("http://cache.invalid") },
            new AspireCacheClientOptions { Deadline = TimeSpan.FromMilliseconds(300) });

        var error = await Assert.ThrowsAsync<UnavailableException>(() => client.SetAsync("k", "v"u8.ToArray()));
        Assert.Contains("deadline", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_write_whose_body_was_sent_before_its_deadline_has_an_unknown_outcome()
    {
        var client = new AspireCacheClient(
            new HttpClient(new SendsBodyThenHangs()) { BaseAddress = new Uri("http://cache.invalid") },
            new AspireCacheClientOptions { Deadline = TimeSpan.FromMilliseconds(300) });

        var error = await Assert.ThrowsAsync<OutcomeUnknownException>(() => client.SetAsync("k", "v"u8.ToArray()));
        Assert.False(string.IsNullOrEmpty(error.IdempotencyKey));
    }

    /// <summary>
    /// "Connection refused" after the request went out: SocketsHttpHandler sends a request that failed on a
    /// reused connection before any answer again on a new connection, and reports only that connection's
    /// refusal. A PUT's body shows whether it went out; a DELETE has none, so it may have been applied (the
    /// process-faults linearizability test caught a DELETE reported "not applied" that a leader killed
    /// mid-request had applied).
    /// </summary>
    [Fact]
    public async Task A_refused_connection_after_the_body_went_out_or_for_a_bodiless_delete_leaves_the_outcome_unknown()
    {
        var client = new AspireCacheClient(
            new HttpClient(new SendsThenRefuses()) { BaseAddress = new Uri("http://cache.invalid") },
            new AspireCacheClientOptions { Deadline = TimeSpan.FromMilliseconds(300) });

        Assert.False(string.IsNullOrEmpty((await Assert.ThrowsAsync<OutcomeUnknownException>(() => client.SetAsync("k", "v"u8.ToArray()))).IdempotencyKey));
        await Assert.ThrowsAsync<OutcomeUnknownException>(() => client.DeleteAsync("k"));
    }

    [Fact]
    public async Task A_refused_connection_before_the_body_went_out_is_unavailable()
    {
        var client = new AspireCacheClient(
            new HttpClient(new Refuses()) { BaseAddress = new Uri("http://cache.invalid") },
            new AspireCacheClientOptions { Deadline = TimeSpan.FromMilliseconds(300) });

        await Assert.ThrowsAsync<UnavailableException>(() => client.SetAsync("k", "v"u8.ToArray()));
    }

    /// <summary>Like SocketsHttpHandler after its own retry: the request (and its body) went out, then a new connection was refused.</summary>
    private sealed class SendsThenRefuses : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Content is { } body)
            {
                await body.CopyToAsync(Stream.Null, cancellationToken);
            }

            throw new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused (cache.invalid:80)");
        }
    }

    /// <summary>A port nothing listens on: refused before anything was sent.</summary>
    private sealed class Refuses : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            throw new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused (cache.invalid:80)");
    }

    /// <summary>Like a connection attempt that never completes: the body is never read.</summary>
    private sealed class NeverConnects : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new InvalidOperationException("unreachable");
        }
    }

    /// <summary>Like a server that received the whole request and never answers.</summary>
    private sealed class SendsBodyThenHangs : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            await request.Content!.CopyToAsync(Stream.Null, cancellationToken);
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new InvalidOperationException("unreachable");
        }
    }
}
