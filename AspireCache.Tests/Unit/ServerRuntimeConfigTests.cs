using System.Text.Json;

namespace AspireCache.Tests.Unit;

/// <summary>
/// The servers' runtime settings, as their builds write them (the referenced projects' runtimeconfig.json
/// files are copied beside the tests): what `dotnet run`, the AppHost and the container image start with.
/// </summary>
public sealed class ServerRuntimeConfigTests
{
    [Theory]
    [InlineData("AspireCache.Node")]
    [InlineData("AspireCache.Router")]
    public void An_idle_thread_pool_worker_spins_ten_rounds_before_it_sleeps(string server)
    {
        // The runtime's default (70) ends in 60 sched_yield calls per idle transition: about half of an
        // idle node's CPU on a shared 2-core VM (bench/README.md, "Thread-pool spinning").
        var path = Path.Combine(AppContext.BaseDirectory, $"{server}.runtimeconfig.json");
        using var config = JsonDocument.Parse(File.ReadAllText(path));
        var properties = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");

        Assert.True(properties.TryGetProperty("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit", out var limit), $"{path} does not set the spin limit");
        Assert.Equal(10, limit.GetInt32());
    }
}
