using System.Globalization;
using System.Text.Json;

namespace AspireCache.Bench;

/// <summary>
/// <c>--mode leader-watch</c>: polls <c>/cluster/status</c> (or the router's <c>/router/topology</c>) of the
/// targets every <see cref="BenchOptions.PollInterval"/> over keep-alive connections until one reports a leader
/// in a term of at least <see cref="BenchOptions.MinTerm"/>. Used by bench/failover.sh to time an election
/// precisely: it is started (and warm) before the leader is killed, so no process start-up is measured.
/// </summary>
public static class LeaderWatch
{
    public sealed record Observation(string LeaderId, long Term, long UnixMs, string Target, int Polls);

    /// <summary>Returns the first observation, or null when <see cref="BenchOptions.Duration"/> elapsed first.</summary>
    public static async Task<Observation?> RunAsync(BenchOptions options, TextWriter output, CancellationToken token)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        using var http = BenchRunner.CreateHttpClient(options);
        BenchRunner.Authorize(http, options); // /cluster/status and /router/topology need a credential when auth is on
        http.Timeout = TimeSpan.FromMilliseconds(Math.Max(200, options.PollInterval.TotalMilliseconds * 20));
        var uris = new Uri[options.Targets.Count];
        for (var i = 0; i < uris.Length; i++)
        {
            uris[i] = new Uri(options.Targets[i], options.WatchPath);
        }

        // Warm up (JIT, connections) before announcing readiness.
        foreach (var uri in uris)
        {
            await PollAsync(http, uri, token);
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"watching {string.Join(",", options.Targets)} for a leader in term >= {options.MinTerm}"));
        output.Flush();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(options.Duration);
        var polls = 0;
        try
        {
            using var timer = new PeriodicTimer(options.PollInterval);
            while (true)
            {
                polls++;
                var tasks = new Task<(string? Leader, long Term)>[uris.Length];
                for (var i = 0; i < uris.Length; i++)
                {
                    tasks[i] = PollAsync(http, uris[i], timeout.Token);
                }

                for (var i = 0; i < uris.Length; i++)
                {
                    var (leader, term) = await tasks[i];
                    if (leader is not null && term >= options.MinTerm)
                    {
                        var seen = new Observation(leader, term, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), options.Targets[i].ToString(), polls);
                        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"leader={seen.LeaderId} term={seen.Term} unix_ms={seen.UnixMs} polls={seen.Polls} via={seen.Target}"));
                        return seen;
                    }
                }

                await timer.WaitForNextTickAsync(timeout.Token);
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"no leader in term >= {options.MinTerm} within {options.Duration.TotalSeconds:0.#} s ({polls} polls)"));
            return null;
        }
    }

    /// <summary>
    /// The leader a response names: a node's status counts only when it says role=leader (its own id);
    /// the router's topology (no top-level role) counts when it names a leaderId.
    /// </summary>
    private static async Task<(string? Leader, long Term)> PollAsync(HttpClient http, Uri uri, CancellationToken token)
    {
        try
        {
            var body = await http.GetByteArrayAsync(uri, token);
            return Parse(body);
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException || (ex is OperationCanceledException && !token.IsCancellationRequested))
        {
            return (null, 0);
        }
    }

    internal static (string? Leader, long Term) Parse(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        string? nodeId = null, role = null, leaderId = null;
        long term = 0;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1)
            {
                continue;
            }

            var name = reader.GetString();
            reader.Read();
            switch (name)
            {
                case "nodeId" when reader.TokenType == JsonTokenType.String:
                    nodeId = reader.GetString();
                    break;
                case "role" when reader.TokenType == JsonTokenType.String:
                    role = reader.GetString();
                    break;
                case "leaderId" when reader.TokenType == JsonTokenType.String:
                    leaderId = reader.GetString();
                    break;
                case "term" when reader.TokenType == JsonTokenType.Number:
                    term = reader.GetInt64();
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        var leader = role is null ? leaderId : (role == "leader" ? nodeId : null);
        return (leader, term);
    }
}
