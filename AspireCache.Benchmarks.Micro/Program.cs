using BenchmarkDotNet.Running;

namespace AspireCache.Benchmarks.Micro;

/// <summary><c>dotnet run -c Release --project AspireCache.Benchmarks.Micro -- --filter '*'</c></summary>
internal static class BenchmarkProgram
{
    private static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(BenchmarkProgram).Assembly).Run(args);
}
