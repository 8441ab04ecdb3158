namespace AspireCache.Client.Tests.Infrastructure;

/// <summary>
/// A handler between a client and the cluster that, once <see cref="Close"/>d, holds the next request
/// of one method under a path prefix in flight until <see cref="Open"/> (<see cref="Entered"/> says it
/// arrived): what the client's coalescing queues behind a request in flight can then be checked.
/// A subclass may answer some requests itself (<see cref="AnswerAsync"/>: a refused or lost batch).
/// </summary>
internal class HoldingGate(HttpMethod method, string prefix) : DelegatingHandler(new SocketsHttpHandler())
{
    private TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _held = 1;

    public Task Entered => _entered.Task;

    public void Close()
    {
        _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _held, 0);
    }

    public void Open() => _open.TrySetResult();

    /// <summary>Waits (polling, 10 s at most) until <paramref name="queued"/> reaches <paramref name="count"/>: the requests queued behind the one held.</summary>
    public static async Task WaitQueuedAsync(Func<int> queued, int count, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (queued() < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {queued()} of {count} {what} queued behind the one in flight");
            await Task.Delay(10);
        }
    }

    /// <summary>An answer of the gate's own instead of the cluster's, or null to pass the request on.</summary>
    protected virtual Task<HttpResponseMessage>? AnswerAsync(HttpRequestMessage request, string path, CancellationToken cancellationToken) => null;

    /// <summary>The request sent on to the cluster (not held).</summary>
    protected Task<HttpResponseMessage> PassOnAsync(HttpRequestMessage request, CancellationToken cancellationToken) => base.SendAsync(request, cancellationToken);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var path = request.RequestUri!.AbsolutePath;
        if (AnswerAsync(request, path, cancellationToken) is { } answer)
        {
            return await answer;
        }

        if (request.Method == method && path.StartsWith(prefix, StringComparison.Ordinal) && Interlocked.Exchange(ref _held, 1) == 0)
        {
            _entered.TrySetResult();
            await _open.Task.WaitAsync(cancellationToken);
        }

        return await base.SendAsync(request, cancellationToken);
    }
}
