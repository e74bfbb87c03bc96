AdminJS.UserComponents = {}
import NexusFlowDashboard from '../admin/console/components/dashboard'
AdminJS.UserComponents.NexusFlowDashboard = NexusFlowDashboard