using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using AspireCache.Node.Api;
using AspireCache.Tests.Integration;
using AspireCache.Verification;
using Xunit.Abstractions;

namespace AspireCache.Tests.Verification;

/// <summary>
/// Process-level faults on the real Aspire app: <c>kill -9</c> of the leader and of a follower
/// (restarted from disk by Aspire), and <c>SIGSTOP</c>/<c>SIGCONT</c> pauses longer than the election
/// timeout — while clients read, write, CAS and delete through the router and directly. The history
/// must be linearizable and every node must end identical.
/// </summary>
[Collection(AspireCollection.Name)]
public sealed class ProcessFaultsTests(AspireAppFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task Histories_under_kill_9_and_pauses_are_linearizable_and_replicas_converge()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(60));
        var prefix = $"jepsen-proc-{Guid.NewGuid():N}/";
        var keys = Enumerable.Range(0, 4).Select(i => $"{prefix}{i}").ToArray();
        var history = new HistoryRecorder();
        var unknowns = new OutcomeResolver();
        var faults = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();

        var clients = new List<Task>();
        for (var c = 0; c < 5; c++)
        {
            // Clients 0–2 go through the router; 3–4 talk to node1 and node2 directly.
            var clientId = c;
            Func<HttpClient> connect = c < 3
                ? () => WithDefaultTimeout(fixture.NewClient(fixture.Router.BaseAddress!))
                : () => fixture.Node(AspireAppFixture.Nodes[clientId - 3]);
            clients.Add(Task.Run(() => ConsistencyUnderFaultsTests.RunClientAsync(clientId, connect, keys, history, unknowns, stop.Token)));
        }

        // One cycle of the four faults in CI; JEPSEN_PROCESS_SECONDS repeats cycles (verify/jepsen.sh).
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("JEPSEN_PROCESS_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out var s) ? s : 0;
        var until = DateTime.UtcNow.AddSeconds(seconds);
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(2), timeout.Token);
            do
            {
                await KillAndRestartAsync(await fixture.LeaderAsync(timeout.Token), "leader", faults, timeout.Token);
                await PauseAsync(await FollowerAsync(timeout.Token), "follower", faults, timeout.Token);
                await PauseAsync(await fixture.LeaderAsync(timeout.Token), "leader", faults, timeout.Token);
                await KillAndRestartAsync(await FollowerAsync(timeout.Token), "follower", faults, timeout.Token);
                await Task.Delay(TimeSpan.FromSeconds(2), timeout.Token);
            }
            while (DateTime.UtcNow < until);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !timeout.IsCancellationRequested)
        {
            // A fault step failed (a node that did not come back, a status that did not answer):
            // fail with what the nodes said last, not only the exception.
            throw new InvalidOperationException($"fault step failed after {string.Join(", ", faults)}: {ex.Message}\n{await NodeLogsAsync()}", ex);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(clients);
        }

        // The router may still be retrying a write its client gave up on (up to its 5 s deadline):
        // let it finish, so the final reads see a quiet cluster.
        await Task.Delay(TimeSpan.FromSeconds(6), timeout.Token);
        using (var resolveClient = WithDefaultTimeout(fixture.NewClient(fixture.Router.BaseAddress!)))
        {
            var (replayed, appliedNow, unresolved) = await unknowns.ResolveAsync(resolveClient, history, timeout.Token);
            output.WriteLine($"unknown outcomes resolved by idempotent retry: {replayed} had taken effect, {appliedNow} had not; {unresolved} unresolved");
        }

        // Final reads of every key from every node join the history.
        var finals = new List<string>();
        foreach (var node in AspireAppFixture.Nodes)
        {
            using var client = fixture.Node(node);
            var state = new List<string?>();
            foreach (var key in keys)
            {
                var handle = history.BeginRead(100, key);
                bool found;
                string? value;
                long? version;
                try
                {
                    (found, value, version) = await ConsistencyUnderFaultsTests.ReadWithRetryAsync(client, key);
                }
                catch (TimeoutException ex)
                {
                    throw new TimeoutException($"{ex.Message}\nfaults: {string.Join(", ", faults)}\n{await NodeLogsAsync()}", ex);
                }

                history.CompleteRead(handle, found ? value : null, version);
                state.Add(found ? $"{value}@{version}" : null);
            }

            finals.Add(string.Join(", ", state));
            var status = (await client.GetFromJsonAsync<ClusterStatusResponse>("/cluster/status", timeout.Token))!;
            output.WriteLine($"{node}: {finals[^1]} | revision {status.Revision}, applied {status.AppliedIndex}, commit {status.CommitIndex}, snapshot {status.SnapshotIndex}, role {status.Role}, term {status.Term}");
        }

        var operations = history.Snapshot();
        var result = LinearizabilityChecker.Check(operations, TimeSpan.FromSeconds(60));
        output.WriteLine($"{operations.Count} operations ({operations.Count(o => !o.Known)} unknown outcome); faults: {string.Join(", ", faults)}");
        output.WriteLine($"writes acknowledged: {operations.Count(o => o.Known && o.Kind != OpKind.Read)}; final state identical on all nodes: {finals.Distinct().Count() == 1}");
        output.WriteLine(result.Describe());

        if (result.Outcome == CheckOutcome.Violation)
        {
            output.WriteLine($"full history: {history.Dump("process-faults", ConsistencyUnderFaultsTests.WriteOutcomes)}");
            foreach (System.Text.RegularExpressions.Match value in System.Text.RegularExpressions.Regex.Matches(result.Describe(), "\"(c\\d+-\\d+)\""))
            {
                var v = value.Groups[1].Value;
                output.WriteLine($"write {v}: {(ConsistencyUnderFaultsTests.WriteOutcomes.TryGetValue(v, out var o) ? o : "never sent")}");
            }
        }

        var traces = AspireAppFixture.Nodes.ToDictionary(n => n, n => Path.Combine(fixture.DataRoot, n, "apply-trace.log"));
        var divergences = ApplyTraces.Divergences(traces);
        output.WriteLine(divergences.Count == 0 ? "apply traces: every index applied the same entry on every node" : $"apply traces differ ({fixture.DataRoot}):\n{string.Join("\n", divergences)}");

        Assert.True(result.Outcome == CheckOutcome.Ok, result.Describe()); // "unknown" (search budget spent) is not a pass
        Assert.True(divergences.Count == 0, $"replicas applied different entries: {string.Join("; ", divergences)}; faults: {string.Join(", ", faults)}\n{await NodeLogsAsync()}");
        Assert.Single(finals.Distinct());
        Assert.True(operations.Count(o => o.Known && o.Kind != OpKind.Read) > 20);
    }

    private async Task KillAndRestartAsync(string node, string role, ConcurrentQueue<string> faults, CancellationToken token)
    {
        var pid = await ProcessIdAsync(node, token);
        faults.Enqueue($"kill -9 {role} {node}");
        Process.GetProcessById(pid).Kill();
        await Task.Delay(TimeSpan.FromSeconds(2), token);

        // Let DCP see the exit before asking it to start the resource again.
        using (var seen = CancellationTokenSource.CreateLinkedTokenSource(token))
        {
            seen.CancelAfter(TimeSpan.FromSeconds(20));
            try
            {
                await fixture.App.ResourceNotifications.WaitForResourceAsync(
                    node,
                    e => Aspire.Hosting.ApplicationModel.KnownResourceStates.TerminalStates.Contains(e.Snapshot.State?.Text),
                    seen.Token);
            }
            catch (OperationCanceledException) when (!token.IsCancellationRequested)
            {
            }
        }

        await fixture.StartAndWaitHealthyAsync(node, token);
    }

    private async Task PauseAsync(string node, string role, ConcurrentQueue<string> faults, CancellationToken token)
    {
        var pid = await ProcessIdAsync(node, token);
        faults.Enqueue($"SIGSTOP {role} {node} 3 s");
        await Signal("STOP", pid);
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(3), token); // longer than the election timeout
        }
        finally
        {
            await Signal("CONT", pid);
        }

        await fixture.App.ResourceNotifications.WaitForResourceHealthyAsync(node, token);
    }

    private static async Task Signal(string signal, int pid)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", $"-{signal} {pid}") { UseShellExecute = false })!;
        await kill.WaitForExitAsync();
    }

    /// <summary>The node's process id from its status (a node restarted a moment ago may take a few seconds to listen).</summary>
    private async Task<int> ProcessIdAsync(string node, CancellationToken token)
    {
        using var client = fixture.Node(node);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return (await client.GetFromJsonAsync<ClusterStatusResponse>("/cluster/status", token))!.ProcessId;
            }
            catch (HttpRequestException) when (attempt < 50)
            {
                await Task.Delay(200, token);
            }
        }
    }

    private async Task<string> NodeLogsAsync()
    {
        var logs = new System.Text.StringBuilder();
        foreach (var n in AspireAppFixture.Nodes)
        {
            var state = fixture.App.ResourceNotifications.TryGetCurrentState(n, out var e) ? e.Snapshot.State?.Text : "?";
            logs.Append($"--- {n} ({state}) recent log ---\n").Append(await fixture.RecentLogsAsync(n)).Append('\n');
        }

        return logs.ToString();
    }


    private async Task<string> FollowerAsync(CancellationToken token)
    {
        var leader = await fixture.LeaderAsync(token);
        return AspireAppFixture.Nodes.First(n => n != leader);
    }

    /// <summary>HttpClient's own 100 s timeout, as these clients had before they carried the cluster's key.</summary>
    private static HttpClient WithDefaultTimeout(HttpClient client)
    {
        client.Timeout = TimeSpan.FromSeconds(100);
        return client;
    }
}
