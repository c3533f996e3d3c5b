// All user-facing strings, zh-CN first, then English. Views call t(key); nothing else
// in the client holds display text.

export type Lang = "zh-CN" | "en";

const zh = {
  appName: "Viva 远程答辩",
  joinTitle: "进入会议",
  deviceCheck: "正在请求摄像头和麦克风……",
  deviceDenied: "无法使用摄像头或麦克风：",
  connecting: "正在连接……",
  connected: "已连接",
  reconnectNeeded: "连接已断开，请刷新页面重新进入。",
  leave: "离开会议",
  left: "您已离开会议。",
  you: "我",
  waitingForOthers: "等待其他参会人员加入……",
  error: "错误",
  adminTitle: "Viva 管理",
  signIn: "登录",
  username: "用户名",
  password: "密码",
  signedIn: "已登录",
  bookSession: "预约会议",
  sessionTitle: "会议标题",
  start: "开始时间",
  duration: "时长（分钟）",
  participantsHelp: "参会人员（每行：姓名,角色；角色为 host / applicant / expert / observer / trainer / trainee）",
  book: "预约",
  joinLinks: "个人入会链接",
  language: "English",
  roles_host: "主持人（秘书）",
  roles_applicant: "申请人",
  roles_expert: "专家",
  roles_observer: "观察员",
  roles_trainer: "培训讲师",
  roles_trainee: "学员",
};

type Key = keyof typeof zh;

const en: Record<Key, string> = {
  appName: "Viva remote defense",
  joinTitle: "Join session",
  deviceCheck: "Asking for camera and microphone…",
  deviceDenied: "Camera or microphone unavailable: ",
  connecting: "Connecting…",
  connected: "Connected",
  reconnectNeeded: "The connection was lost. Reload the page to join again.",
  leave: "Leave",
  left: "You have left the session.",
  you: "Me",
  waitingForOthers: "Waiting for others to join…",
  error: "Error",
  adminTitle: "Viva administration",
  signIn: "Sign in",
  username: "User name",
  password: "Password",
  signedIn: "Signed in",
  bookSession: "Book a session",
  sessionTitle: "Title",
  start: "Start",
  duration: "Duration (minutes)",
  participantsHelp: "Participants (one per line: name,role; role is host / applicant / expert / observer / trainer / trainee)",
  book: "Book",
  joinLinks: "Personal join links",
  language: "中文",
  roles_host: "Host (secretary)",
  roles_applicant: "Applicant",
  roles_expert: "Expert",
  roles_observer: "Observer",
  roles_trainer: "Trainer",
  roles_trainee: "Trainee",
};

const tables: Record<Lang, Record<Key, string>> = { "zh-CN": zh, en };

export function currentLang(): Lang {
  const saved = localStorage.getItem("viva.lang");
  return saved === "en" ? "en" : "zh-CN";
}

export function t(key: Key): string {
  return tables[currentLang()][key];
}

export function roleName(role: string): string {
  const key = `roles_${role}` as Key;
  return key in zh ? t(key) : role;
}

/** Adds a language switch button to `parent`; switching reloads the page. */
export function languageToggle(parent: HTMLElement): void {
  const button = document.createElement("button");
  button.className = "lang";
  button.textContent = t("language");
  button.addEventListener("click", () => {
    localStorage.setItem("viva.lang", currentLang() === "en" ? "zh-CN" : "en");
    location.reload();
  });
  parent.appendChild(button);
  document.documentElement.lang = currentLang();
}
