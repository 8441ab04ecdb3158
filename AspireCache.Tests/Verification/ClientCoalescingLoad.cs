using AspireCache.Client;
using AspireCache.Contracts;
using AspireCache.Verification;

namespace AspireCache.Tests.Verification;

/// <summary>
/// The load of the client coalescing checks (<see cref="ClientReadCoalescingTests"/>, <see cref="ClientWriteCoalescingTests"/>):
/// readers and writers on a few keys, each operation recorded for the linearizability checker, and a
/// handler that counts the batches answered and the requests that went alone.
/// </summary>
internal static class ClientCoalescingLoad
{
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
