using AspireCache.Client;
using AspireCache.Contracts;
using AspireCache.Tests.InProcess;
using AspireCache.Verification;
using Xunit.Abstractions;

namespace AspireCache.Tests.Verification;

/// <summary>
/// The load of the client coalescing checks (<see cref="ClientReadCoalescingTests"/>, <see cref="ClientWriteCoalescingTests"/>):
/// readers and writers on a few keys, each operation recorded for the linearizability checker, and a
/// handler that counts the batches answered and the requests that went alone.
/// </summary>
internal static class ClientCoalescingLoad
{
    /// <summary>
    /// A fresh cluster (and router unless <paramref name="direct"/>); <paramref name="readers"/> readers sharing
    /// one client and <paramref name="writers"/> writers sharing another, on 3 keys, for 10 s, the leader stopped
    /// after 3 s and started again 2 s later; the history checked (named <paramref name="name"/> if it fails).
    /// The requests of the readers' client (<paramref name="countReaders"/>) or the writers' are counted.
    /// </summary>
    public static async Task<(BatchCounter Counted, int Reads, int Writes, int Stopped)> RunAcrossLeaderCrashAsync(
        ITestOutputHelper output, bool direct, int readers, int writers, bool countReaders, string name)
    {
        await using var cluster = await InProcessCluster.StartAsync(PartitionTests.FaultSettings);
        await using var router = direct ? null : await ReadyRouter.StartAsync(cluster, new Dictionary<string, string?> { ["Router:RetryDeadline"] = "00:00:03" });
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));

        var counted = new BatchCounter { InnerHandler = new SocketsHttpHandler() };
        AspireCacheClient NewClient(HttpMessageHandler handler) => new(
            new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan, BaseAddress = router?.Router.Url },
            new AspireCacheClientOptions { Nodes = direct ? [.. cluster.Urls] : [], Credential = cluster.Credential, Deadline = TimeSpan.FromSeconds(5) });
        await using var readersClient = NewClient(countReaders ? counted : new SocketsHttpHandler());
        await using var writersClient = NewClient(countReaders ? new SocketsHttpHandler() : counted);

        var prefix = $"{name}-{Guid.NewGuid():N}/";
        var keys = Enumerable.Range(0, 3).Select(i => $"{prefix}{i}").ToArray();
        var history = new HistoryRecorder();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var clients = new List<Task>();
        for (var c = 0; c < readers + writers; c++)
        {
            var clientId = c;
            clients.Add(Task.Run(() => clientId < writers
                ? WriteAsync(clientId, writersClient, keys, history, stop.Token)
                : ReadAsync(clientId, readersClient, keys, history, stop.Token)));
        }

        await Task.Delay(TimeSpan.FromSeconds(3));
        await cluster.StopNodeAsync(leader);
        await Task.Delay(TimeSpan.FromSeconds(2));
        await cluster.StartNodeAsync(leader);
        await Task.WhenAll(clients);

        var (reads, writes) = HistoryCheck.AssertLinearizable(history, output, name);
        return (counted, reads, writes, leader);
    }

    /// <summary>A reader: linearizable reads, recorded (a failed one observed nothing).</summary>
    public static async Task ReadAsync(int clientId, AspireCacheClient client, string[] keys, HistoryRecorder history, CancellationToken stop)
    {
        var recording = new RecordingClient(client, history, clientId);
        var random = new Random(clientId);
        while (!stop.IsCancellationRequested)
        {
            await recording.ReadAsync(keys[random.Next(keys.Length)]);
        }
    }

    /// <summary>A writer: unique values, recorded with the outcome the client reported.</summary>
    public static async Task WriteAsync(int clientId, AspireCacheClient client, string[] keys, HistoryRecorder history, CancellationToken stop)
    {
        var recording = new RecordingClient(client, history, clientId);
        var random = new Random(clientId);
        for (var n = 0; !stop.IsCancellationRequested; n++)
        {
            await recording.WriteAsync(keys[random.Next(keys.Length)], $"c{clientId}-{n}");
        }
    }

    public sealed class BatchCounter : DelegatingHandler
    {
        private int _readBatches;
        private int _writeBatches;
        private int _gets;
        private int _puts;

        public int ReadBatches => Volatile.Read(ref _readBatches);

        public int WriteBatches => Volatile.Read(ref _writeBatches);

        public int Gets => Volatile.Read(ref _gets);

        public int Puts => Volatile.Read(ref _puts);

        /// <summary>Counts batches ANSWERED (200, the batch media type): batches that failed would leave every operation to go alone, and the checker would see no batch answer at all.</summary>
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            var path = request.RequestUri!.AbsolutePath;
            var answered = response.StatusCode == System.Net.HttpStatusCode.OK;
            if (request.Method == HttpMethod.Post && path == ReadBatchWire.Path && answered && response.Content.Headers.ContentType?.MediaType == ReadBatchWire.ResponseMediaType)
            {
                Interlocked.Increment(ref _readBatches);
            }
            else if (request.Method == HttpMethod.Post && path == WriteBatchWire.Path && answered && response.Content.Headers.ContentType?.MediaType == WriteBatchWire.ResponseMediaType)
            {
                Interlocked.Increment(ref _writeBatches);
            }
            else if (path.StartsWith(CachePaths.Keys + "/", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref request.Method == HttpMethod.Get ? ref _gets : ref _puts);
            }

            return response;
        }
    }
}
