// Parse check for a Jenkinsfile where no Jenkins (and so no pipeline linter) is available:
// compiles it as Groovy without running it, so syntax errors fail with file, line and column.
// Usage: groovy ci/jenkins/check-jenkinsfile.groovy ci/jenkins/Jenkinsfile
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.MultipleCompilationErrorsException

def file = new File(args[0])
try {
  new GroovyShell(new CompilerConfiguration()).parse(file)
  println "${file}: parses"
} catch (MultipleCompilationErrorsException e) {
  System.err.println "${file}: does not parse: ${e.errorCollector.errors*.cause*.message.join('; ')}"
  System.exit(1)
}
