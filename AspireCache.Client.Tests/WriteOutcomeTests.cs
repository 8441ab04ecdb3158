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
